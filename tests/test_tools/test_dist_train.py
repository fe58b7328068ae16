"""tools/dist_train.sh: two CPU processes through torchrun (gloo)."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'densecl',
                  'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.timeout(600)
def test_two_process_training_gathers_keys(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    per_process_batch = 2
    options = [f'train_dataloader.dataset.data_root={data_root}'] + [
        f'train_dataloader.dataset.{k}={v}' for k, v in toy_args.items()
    ] + [
        f'train_dataloader.batch_size={per_process_batch}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'crop_size=64',
        'model.queue_len=20', 'model.neck.hid_channels=32',
        'train_cfg.max_epochs=1'
    ]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(_free_port()),
               OMP_NUM_THREADS='1')
    done = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
         '--work-dir', str(tmp_path), '--cfg-options'] + options,
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=500)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log
    checkpoint = torch.load(tmp_path / 'epoch_1.pth')
    global_batch = 2 * per_process_batch
    iters = toy_args['num_train'] // global_batch
    assert checkpoint['meta']['iter'] == iters
    # Both processes' keys went into the queue: the pointer moved by the
    # global batch every step, not by the per-process one.
    assert int(checkpoint['state_dict']['global_queue.ptr']) == (
        iters * global_batch) % 20
