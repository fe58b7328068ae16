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
