"""dense_contrast.apis.transfer: the pieces of the transfer chain that need
no training run (the chain itself: tests/test_tools/test_transfer.py); the
fine-tune's bookkeeping with its jobs stood in for by a fake."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config

from dense_contrast.apis import transfer
from dense_contrast.apis.runner import RunError
from dense_contrast.apis.transfer import (finetune, markdown_table,
                                          mean_difference,
                                          pretrained_init_paths, read_metrics,
                                          read_test_metrics, run_fingerprint)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
C4 = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection',
              'faster-rcnn_r50-c4_ms-24k_voc0712.py')
SEG = osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation',
               'fcn_r18-d8_1xb8-100i_toyscenes-128x128.py')


def test_pretrained_init_paths_find_backbone_and_res5_head():
    assert pretrained_init_paths(Config.fromfile(C4)) == [
        'model.backbone.init_cfg', 'model.roi_head.shared_head.init_cfg'
    ]
    with pytest.raises(ValueError, match='no init_cfg of type "Pretrained"'):
        pretrained_init_paths(
            Config(dict(model=dict(backbone=dict(type='ResNet')))))


def test_read_metrics_takes_the_last_evaluation(tmp_path):
    for stamp, miou in (('20240101_000000', 10.0), ('20240102_000000', 20.0)):
        log = tmp_path / stamp / 'vis_data'
        log.mkdir(parents=True)
        lines = [dict(lr=0.1, loss=1.0, iter=1), dict(mIoU=miou, step=2),
                 dict(lr=0.1, loss_x=1.0, iter=3)]
        (log / 'scalars.json').write_text(
            '\n'.join(json.dumps(line) for line in lines) + '\n')
    metrics, source = read_metrics(str(tmp_path))
    assert metrics == {'mIoU': 20.0}
    assert source == str(tmp_path / '20240102_000000' / 'vis_data' /
                         'scalars.json')
    with pytest.raises(RunError, match='no evaluation found'):
        read_metrics(str(tmp_path / '20240101_000000'))


def test_fingerprint_follows_options_and_weights():
    cfg = Config(dict(model=dict(depth=18), seed=0))
    base = run_fingerprint(cfg, {'seed': 1}, 'abc')
    assert base == run_fingerprint(cfg, {'seed': 1}, 'abc')
    assert base != run_fingerprint(cfg, {'seed': 2}, 'abc')
    assert base != run_fingerprint(cfg, {'seed': 1}, None)


def test_markdown_table_columns_and_inits():
    records = [
        dict(config='a.py', init=init, seed=0, checkpoint=ckpt,
             checkpoint_sha256=sha, metrics={'mIoU': v, 'loss': 1.0})
        for init, ckpt, sha, v in (('densecl', 'w.pth', '0' * 64, 12.345),
                                   ('random', None, None, 3.0))
    ]
    table = markdown_table(records)
    assert '| metric | densecl (seed 0) | random (seed 0) |' in table
    assert '| mIoU | 12.35 | 3 |' in table
    assert 'loss' not in table
    assert '| densecl | w.pth | 0000000000000000... |' in table
    assert '| random | - | - |' in table


def test_read_test_metrics_takes_the_newest_test_log(tmp_path):
    for stamp, miou in (('20240101_000000', 10.0), ('20240102_000000', 20.0)):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / f'{stamp}.json').write_text(json.dumps(
            dict(aAcc=80, mIoU=miou, time=0.5, data_time=0.1, step=4,
                 note='text')))
    # A newer folder without its own <stamp>.json is not a test log.
    (tmp_path / '20240103_000000' / 'vis_data').mkdir(parents=True)
    metrics, source = read_test_metrics(str(tmp_path))
    assert metrics == {'aAcc': 80.0, 'mIoU': 20.0}
    assert source == str(tmp_path / '20240102_000000' /
                         '20240102_000000.json')
    with pytest.raises(RunError, match='no test log'):
        read_test_metrics(str(tmp_path / '20240103_000000'))


def _records(values, config='a.py', name='mIoU'):
    """Records of one config from ``{(init, seed): value}``."""
    return [
        dict(config=config, init=init, seed=seed, checkpoint=None,
             checkpoint_sha256=None, metrics={name: value})
        for (init, seed), value in values.items()
    ]


def test_mean_difference_pairs_seeds_before_averaging():
    records = _records({('densecl', 0): 10.0, ('densecl', 1): 14.0,
                        ('densecl', 2): 100.0, ('random', 0): 4.0,
                        ('random', 1): 6.0, ('random', 3): 50.0})
    # Seeds 0 and 1 only: ((10 - 4) + (14 - 6)) / 2; not the difference of
    # the means over each init's own seeds.
    assert mean_difference(records, 'densecl', 'random', 'mIoU') == 7.0
    assert mean_difference(records, 'random', 'densecl', 'mIoU') == -7.0
    assert mean_difference(records, 'densecl', 'random', 'mAP') is None
    assert mean_difference(
        _records({('densecl', 0): 1.0, ('random', 1): 2.0}), 'densecl',
        'random', 'mIoU') is None


def test_markdown_table_difference_columns():
    records = _records({('densecl', 0): 10.0, ('mocov2', 0): 3.0,
                        ('random', 0): 4.0, ('densecl', 1): 14.0,
                        ('mocov2', 1): 2.5, ('random', 1): 6.0})
    records += _records({('densecl', 0): 30.0}, config='b.py')
    table = markdown_table(records)
    assert table.splitlines()[:5] == [
        '**a.py** (val split)', '',
        '| metric | densecl (seed 0) | mocov2 (seed 0) | random (seed 0) | '
        'densecl (seed 1) | mocov2 (seed 1) | random (seed 1) | '
        'densecl - random | mocov2 - random |',
        '| --- |' + ' ---: |' * 8,
        '| mIoU | 10 | 3 | 4 | 14 | 2.5 | 6 | +7 | -2.25 |',
    ]
    # No random run of b.py: no difference column.
    assert '**b.py** (val split)\n\n| metric | densecl (seed 0) |\n' \
        '| --- | ---: |\n| mIoU | 30 |\n' in table


def test_markdown_table_test_split_reads_test_metrics():
    records = _records({('densecl', 0): 10.0, ('random', 0): 4.0})
    records[0]['test_metrics'] = {'mIoU': 9.0}
    records[1]['test_metrics'] = {'mIoU': 5.5}
    records += _records({('densecl', 0): 1.0}, config='untested.py')
    table = markdown_table(records, 'test')
    assert '| mIoU | 9 | 5.5 | +3.5 |' in table
    assert '**a.py** (test split)' in table
    assert 'untested.py' not in table
    with pytest.raises(ValueError, match="split must be 'val' or 'test'"):
        markdown_table(records, 'train')


def test_finetune_tests_once_and_retries_a_failed_test(tmp_path,
                                                      monkeypatch):
    """The jobs are stood in for by a fake that writes what the Runner
    would: a validation line, the last checkpoint, a test log; its first
    test fails."""
    jobs = []

    def fake_run_logged(cmd, log_path, what, append=False):
        work_dir = cmd[cmd.index('--work-dir') + 1]
        options = cmd[cmd.index('--cfg-options') + 1:]
        stamp = '20240101_000000'
        if cmd[1].endswith('test.py'):
            jobs.append(('test', cmd[3], what, options))
            if sum(job[0] == 'test' for job in jobs) == 1:
                raise RunError('the first test fails')
            os.makedirs(osp.join(work_dir, stamp))
            with open(osp.join(work_dir, stamp, f'{stamp}.json'), 'w') as f:
                json.dump(dict(mIoU=7.5, time=1.0), f)
        else:
            jobs.append(('train', None, what, options))
            os.makedirs(osp.join(work_dir, stamp, 'vis_data'))
            with open(osp.join(work_dir, stamp, 'vis_data', 'scalars.json'),
                      'w') as f:
                f.write(json.dumps(dict(mIoU=5.0, step=3)) + '\n')
            with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work_dir, 'iter_3.pth'))
        return 60.0

    monkeypatch.setattr(transfer, 'run_logged', fake_run_logged)
    monkeypatch.setattr(transfer, 'ensure_toy_data', lambda *args: None)
    run_dir = str(tmp_path / 'run')
    what = f'random -> {SEG} (seed 1)'
    with pytest.raises(RunError, match='the first test fails'):
        finetune(SEG, 'random', None, None, 1, run_dir, test=True)
    options = [
        'default_hooks.safe_checkpoint.type=dense_contrast.SafeCheckpointHook',
        'randomness.seed=1', 'model.backbone.init_cfg=None'
    ]
    checkpoint = osp.join(run_dir, 'iter_3.pth')
    assert jobs == [('train', None, what, options),
                    ('test', checkpoint, 'testing ' + what, options)]
    with open(osp.join(run_dir, 'result.json')) as f:
        trained = json.load(f)
    assert trained['metrics'] == {'mIoU': 5.0} and trained['minutes'] == 1.0
    assert 'test_metrics' not in trained

    # Trained already: only the test runs.
    record, reused = finetune(SEG, 'random', None, None, 1, run_dir,
                              test=True)
    assert reused
    assert jobs[2:] == [('test', checkpoint, 'testing ' + what, options)]
    assert record == dict(
        trained, test_metrics={'mIoU': 7.5},
        test_metrics_source=osp.relpath(
            osp.join(run_dir, 'test', '20240101_000000',
                     '20240101_000000.json')))
    with open(osp.join(run_dir, 'result.json')) as f:
        assert json.load(f) == record

    # Tested already: nothing runs.
    assert finetune(SEG, 'random', None, None, 1, run_dir,
                    test=True) == (record, True)
    assert len(jobs) == 3
