"""TrainPreciseBNHook in a real Runner: BN statistics become the average
over the hook's own batches (the stream continuing between updates), the
momentum is restored, and the training stream is not disturbed."""
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import dense_contrast  # noqa: F401
from dense_contrast.engine import TrainPreciseBNHook
from dense_contrast.registry import DATASETS

C, BATCH, NUM = 3, 4, 12  # 3 batches per pass over the data


@DATASETS.register_module(name='PreciseBNTestSamples', force=True)
class _Samples(torch.utils.data.Dataset):

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.data = torch.randn(NUM, C, generator=generator) * 3 + 1

    def __len__(self):
        return NUM

    def __getitem__(self, index):
        return dict(inputs=self.data[index])


class _BNNet(BaseModel):
    """BN first, so its batch statistics do not depend on the weights."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(C)
        self.fc = nn.Linear(C, 1)
        self.trained_on = []
        self.hook_modes = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        if torch.is_grad_enabled():
            self.trained_on.append(inputs.clone())
        else:
            self.hook_modes.append(mode)
        out = self.fc(self.bn(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def test_stats_are_the_average_over_the_hooks_batches(tmp_path):
    loader = dict(
        dataset=dict(type='PreciseBNTestSamples'),
        batch_size=BATCH,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'))
    model = _BNNet()
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=loader,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=6),
        custom_hooks=[
            dict(type='TrainPreciseBNHook', num_iters=2, interval=4)
        ],
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='dense_contrast',
        cfg=Config(dict(train_dataloader=loader)))
    runner.train()
    data = _Samples().data
    batches = [data[i * BATCH:(i + 1) * BATCH] for i in range(3)]
    # Training read batches 0, 1, 2, 0, 1, 2: undisturbed by the hook.
    assert len(model.trained_on) == 6
    for i, seen in enumerate(model.trained_on):
        torch.testing.assert_close(seen, batches[i % 3])
    # Updates after iterations 4 (hook batches 0, 1) and 6 (the last one:
    # batches 2, 0 of its own continuing stream).
    expected_mean = (batches[2].mean(0) + batches[0].mean(0)) / 2
    expected_var = (batches[2].var(0) + batches[0].var(0)) / 2
    torch.testing.assert_close(model.bn.running_mean, expected_mean)
    torch.testing.assert_close(model.bn.running_var, expected_var)
    assert model.bn.momentum == 0.1
    # The training forward, as detectron2 runs it (RoI sampling included).
    assert model.hook_modes == ['loss'] * 4


def test_bad_arguments_raise():
    import pytest
    with pytest.raises(ValueError, match='num_iters'):
        TrainPreciseBNHook(num_iters=0)
    with pytest.raises(ValueError, match='interval'):
        TrainPreciseBNHook(interval=-1)
