"""mmpretrain's DenseCLHook drives the project's DenseCL in a real Runner."""
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import dense_contrast  # noqa: F401
from tiny_run import CONFIG, toy_loader_options


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
        **toy_loader_options(data_root, toy_args, batch_size=4),
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
