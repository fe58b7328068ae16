"""tools/transfer.py on a tiny setting: extract, fine-tune, tabulate, skip.

A randomly initialised ResNet-18 saved as a DenseCL-style checkpoint goes
through the chain into the toy FCN (3 iterations on the tiny toy scenes),
from the pretrained weights and from random init. The table's numbers must
be the ones the Runner's evaluator logged (its log text and its
scalars.json), a second call must reuse the finished runs and a third, with
a changed option, must run them again. The chain's pieces are tested in
tests/test_apis/test_api_downstream.py and test_api_transfer_report.py.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'transfer.py')
SEG_NAME = 'fcn_r18-d8_1xb8-100i_toyscenes-128x128'
SEG = osp.join('configs', 'benchmarks', 'mmsegmentation', SEG_NAME + '.py')


def _fake_pretraining_checkpoint(path):
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    backbone = ResNet(depth=18)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.weight'] = torch.zeros(2)
    torch.save(
        dict(
            state_dict=state,
            meta=dict(epoch=1, cfg="model = dict(type='DenseCL')\n")), path)


def test_chain_on_tiny_toyscenes(tiny_toyscenes, tmp_path):
    root, _ = tiny_toyscenes
    checkpoint = str(tmp_path / 'epoch_1.pth')
    _fake_pretraining_checkpoint(checkpoint)
    work_dir = str(tmp_path / 'transfer')
    cmd = [
        sys.executable, TOOL, checkpoint, '--downstream', SEG,
        '--random-init', '--work-dir', work_dir, '--seeds', '3',
        '--cfg-options', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
        'param_scheduler.0.end=3', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}'
    ]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    first = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert '[1/2] densecl -> fcn_r18' in first.stdout
    assert '[2/2] random -> fcn_r18' in first.stdout

    with open(osp.join(work_dir, 'results.json')) as f:
        records = json.load(f)
    assert [r['init'] for r in records] == ['densecl', 'random']
    extracted = osp.join(work_dir, 'weights', 'main_backbone.pth')
    import hashlib
    with open(extracted, 'rb') as f:
        assert records[0]['checkpoint_sha256'] == hashlib.sha256(
            f.read()).hexdigest()
    assert records[1]['checkpoint'] is None
    for record in records:
        assert record['seed'] == 3
        run_dir = osp.join(work_dir, record['init'],
                           'fcn_r18-d8_1xb8-100i_toyscenes-128x128', 'seed3')
        # The number in the table is the one the evaluator logged.
        log = open(osp.join(run_dir, 'transfer_stdout.log')).read()
        logged = re.findall(r'Iter\(val\) \[\d+/\d+\]\s+aAcc: \S+\s+'
                            r'mIoU: (\S+)', log)
        # The log prints 4 decimals; scalars.json holds the float32 value.
        assert logged and float(logged[-1]) == pytest.approx(
            record['metrics']['mIoU'], abs=5e-5)
        with open(osp.join(ROOT, record['metrics_source'])) as f:
            last = json.loads(f.readlines()[-1])
        assert last['mIoU'] == record['metrics']['mIoU']
        dumped = Config.fromfile(
            osp.join(run_dir, 'fcn_r18-d8_1xb8-100i_toyscenes-128x128.py'))
        assert dumped.randomness.seed == 3
        init_cfg = dumped.model.backbone.init_cfg
        if record['init'] == 'random':
            assert init_cfg is None
        else:
            assert init_cfg.checkpoint == osp.abspath(extracted)
            assert 'Loads checkpoint by local backend' in log
    table = open(osp.join(work_dir, 'results.md')).read()
    assert f"| mIoU | {records[0]['metrics']['mIoU']:.4g} |" in table
    assert records[0]['checkpoint_sha256'][:16] in table

    # Run again: everything is reused, nothing retrained.
    second = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.count('finished earlier') == 2
    with open(osp.join(work_dir, 'results.json')) as f:
        assert json.load(f) == records

    # Change a downstream option: both runs are stale and run again (the
    # old run folders are replaced, so their logs cannot be read as new).
    changed = cmd + ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                     'param_scheduler.0.end=2']
    third = subprocess.run(
        changed, cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert 'finished earlier' not in third.stdout
    assert third.stdout.count('running again') == 2
    with open(osp.join(work_dir, 'results.json')) as f:
        rerun = json.load(f)
    for old, new in zip(records, rerun):
        assert new['run_fingerprint'] != old['run_fingerprint']
        assert new['metrics_source'] != old['metrics_source']
        assert not osp.exists(osp.join(ROOT, old['metrics_source']))
        dumped = Config.fromfile(
            osp.join(work_dir, new['init'], SEG_NAME, 'seed3',
                     SEG_NAME + '.py'))
        assert dumped.train_cfg.max_iters == 2


def test_missing_file_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, TOOL, str(tmp_path / 'nope.pth'), '--downstream',
         SEG, '--work-dir', str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert 'nope.pth' in result.stderr
