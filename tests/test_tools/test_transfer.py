"""tools/transfer.py reports a checkpoint the safe loader refuses in one
line, as tools/train.py does, and exits with status 1."""
import os.path as osp
import subprocess
import sys

import torch
from mmengine.logging import HistoryBuffer

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOWNSTREAM = osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation',
                      'fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py')
TOY_CONFIG = osp.join(ROOT, 'configs', 'densecl',
                      'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')


def _unsafe_checkpoint(path: str) -> str:
    """A training checkpoint as plain mmengine writes it without
    SafeCheckpointHook: its log buffers pickle ``builtins.getattr``."""
    torch.save(
        dict(
            state_dict={'backbone.conv1.weight': torch.zeros(4, 3, 3, 3)},
            message_hub=dict(log_scalars={'loss': HistoryBuffer([1.0], [1])})),
        path)
    return path


def _run(args: list) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_refused_checkpoint_is_one_line_like_train(tmp_path):
    checkpoint = _unsafe_checkpoint(str(tmp_path / 'unsafe.pth'))
    done = _run([
        osp.join(ROOT, 'tools', 'transfer.py'), checkpoint, '--downstream',
        DOWNSTREAM, '--work-dir',
        str(tmp_path / 'transfer')
    ])
    assert done.returncode == 1, done.stderr[-3000:]
    assert 'Traceback' not in done.stderr, done.stderr[-3000:]
    prefix = f'error: pretraining checkpoint {checkpoint}: '
    assert done.stderr.startswith(prefix), done.stderr[-3000:]
    assert done.stderr.count('\n') == 1, done.stderr
    reason = done.stderr[len(prefix):]
    assert reason.startswith(f'Refusing to load {checkpoint} with '
                             'weights_only=True')
    assert not osp.exists(tmp_path / 'transfer' / 'weights' /
                          'main_backbone.pth')

    # tools/train.py gives the same reason for the same file.
    done = _run([
        osp.join(ROOT, 'tools', 'train.py'), TOY_CONFIG, '--work-dir',
        str(tmp_path / 'train'), '--resume', checkpoint
    ])
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.endswith(f'error: --resume {checkpoint}: {reason}'), \
        done.stderr[-3000:]


def test_multilabel_toy_transfer_loads_every_backbone_key(
        tmp_path, tiny_toyscenes):
    """The chain (tools/transfer.py: extract, mmpretrain's train.py, table)
    on the toy multi-label linear config: it scores mAP, and the frozen
    backbone it trained with is exactly the extracted DenseCL++ one."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from dense_contrast.registry import MODELS
    root, _ = tiny_toyscenes
    config = osp.join(
        ROOT, 'configs', 'benchmarks', 'mmpretrain',
        'resnet18_multilabel-linear_1xb32-coslr-20e_toyscenes.py')
    pretrain = Config.fromfile(
        osp.join(ROOT, 'configs', 'densecl_pp',
                 'densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py'))
    init_default_scope('dense_contrast')
    model = MODELS.build(pretrain.model)
    checkpoint = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(epoch=1, algorithm='DenseCLPP')), checkpoint)
    options = []
    for loader in ('train_dataloader', 'val_dataloader'):
        options += [f'{loader}.dataset.data_root={root}',
                    f'{loader}.batch_size=4', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
    options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                'default_hooks.checkpoint.interval=1']
    work_dir = tmp_path / 'transfer'
    done = _run([
        osp.join(ROOT, 'tools', 'transfer.py'), checkpoint, '--downstream',
        config, '--name', 'densecl_pp', '--work-dir',
        str(work_dir), '--cfg-options', *options
    ])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (work_dir / 'results.md').read_text()
    assert '| multi-label/mAP |' in table
    run_dir = work_dir / 'densecl_pp' / osp.basename(config)[:-3] / 'seed0'
    log = (run_dir / 'transfer_stdout.log').read_text()
    assert 'missing keys' not in log and 'unexpected key' not in log
    extracted = torch.load(work_dir / 'weights' / 'main_backbone.pth',
                           weights_only=True)['state_dict']
    assert set(extracted) == {
        k[len('backbone.'):] for k in model.state_dict()
        if k.startswith('backbone.')}
    last = (run_dir / 'last_checkpoint').read_text().strip()
    trained = torch.load(last, map_location='cpu',
                         weights_only=False)['state_dict']
    for key, value in extracted.items():
        assert torch.equal(trained[f'backbone.{key}'], value), key
