"""mmpretrain's DenseCLHook drives the project's DenseCL in a real Runner."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import dense_contrast  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'densecl',
                  'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')


class _RecordLosses(Hook):

    def __init__(self):
        self.history = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.history.append(
            (runner.iter, {k: v.item() for k, v in outputs.items()}))


def test_warmup_holds_the_dense_loss_at_zero(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path),
        'train_dataloader.dataset.data_root': data_root,
        **{f'train_dataloader.dataset.{k}': v
           for k, v in toy_args.items()},
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'model.queue_len': 16,
        'model.neck.hid_channels': 32,
        'train_cfg.max_epochs': 2,
        'default_hooks.checkpoint.interval': 100,
    })
    cfg.custom_hooks = cfg.custom_hooks + [
        dict(type='DenseCLHook', start_iters=4)
    ]
    runner = Runner.from_cfg(cfg)
    recorder = _RecordLosses()
    runner.register_hook(recorder)
    runner.train()

    assert [it for it, _ in recorder.history] == list(range(6))
    for it, losses in recorder.history:
        if it < 4:
            assert losses['loss_dense'] == 0.0, (it, losses)
        else:
            assert losses['loss_dense'] > 0.0, (it, losses)
        assert losses['loss_single'] > 0.0
    model = runner.model
    assert model.loss_lambda == 0.5  # restored after the warm-up
    assert torch.isfinite(model.global_queue.feats).all()
