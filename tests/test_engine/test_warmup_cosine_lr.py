"""MCL's learning rate: CosineAnnealingWarmupFactorLR built from the configs
as the Runner builds it, against the authors' formula written out here."""
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS, DefaultScope

import dense_contrast  # noqa: F401
from dense_contrast.engine import CosineAnnealingWarmupFactorLR

IN1K = 'configs/mcl/mcl_resnet50_32xb128-lars-coslr-100e_in1k.py'
TOY = 'configs/mcl/mcl_resnet18_1xb32-lars-coslr-20e_toyscenes.py'
# ImageNet-1k at 32 GPUs x 128 with drop_last: 1,281,167 // 4,096 iterations.
IN1K_EPOCH_LENGTH = 312


def authors_lr(it, max_iters, base_lr, min_lr, warmup_iters, warmup_ratio):
    """The authors' lr at iteration ``it`` (mmcv's LrUpdaterHook with
    ``CosineAnnealingIntervalLrUpdaterHook``, by_epoch=False): the regular
    lr is a cosine over all iterations, and during the warm-up mmcv's
    linear warm-up multiplies it by 1 - (1 - it / W)(1 - ratio)."""
    regular = min_lr + 0.5 * (base_lr - min_lr) * (
        1 + math.cos(math.pi * it / max_iters))
    if it >= warmup_iters:
        return regular
    return regular * (1 - (1 - it / warmup_iters) * (1 - warmup_ratio))


def _scheduler(config, epoch_length):
    """The config's only scheduler, built as ``Runner.build_param_scheduler``
    builds it (mmengine's registry in the config's scope, converted to
    iterations with the train loader's length)."""
    cfg = Config.fromfile(config)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                lr=cfg.optim_wrapper.optimizer.lr)
    (sched_cfg, ) = cfg.param_scheduler
    assert sched_cfg.convert_to_iter_based is True
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        scheduler = PARAM_SCHEDULERS.build(
            sched_cfg,
            default_args=dict(optimizer=optimizer, epoch_length=epoch_length))
    assert type(scheduler) is CosineAnnealingWarmupFactorLR
    assert not scheduler.by_epoch
    return cfg, optimizer, scheduler


def _lrs(optimizer, scheduler, num_iters):
    """The lr used at iterations 0 .. num_iters - 1 (the hook steps the
    scheduler after each iteration)."""
    lrs = []
    for _ in range(num_iters):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    return lrs


def test_in1k_lr_equals_the_authors_formula():
    cfg, optimizer, scheduler = _scheduler(IN1K, IN1K_EPOCH_LENGTH)
    max_iters = cfg.max_epochs * IN1K_EPOCH_LENGTH
    lrs = _lrs(optimizer, scheduler, max_iters)
    for it in (0, 1, 1000, 3126, 3127, 3128, 17160, 25000, max_iters - 1):
        expected = authors_lr(it, max_iters, 16.0, 1e-4, 3127, 1e-4)
        assert lrs[it] == pytest.approx(expected, rel=1e-9), it
    assert lrs[0] == pytest.approx(16.0 * 1e-4)
    # Epoch 55: 6.75 (a cosine over epochs 10-100 after the warm-up gave 8.0).
    assert lrs[55 * IN1K_EPOCH_LENGTH] == pytest.approx(6.749, abs=1e-3)
    # The warm-up ends below the base lr: the cosine has already moved.
    assert lrs[3127] == pytest.approx(1e-4 + 0.5 * (16 - 1e-4) *
                                      (1 + math.cos(math.pi * 3127 / 31200)))
    assert lrs[3127] < 16.0


def test_toy_warmup_epoch_and_state_dict_resume():
    epoch_length = 7
    cfg, optimizer, scheduler = _scheduler(TOY, epoch_length)
    assert scheduler.warmup_iters == epoch_length
    max_iters = cfg.max_epochs * epoch_length
    lrs = _lrs(optimizer, scheduler, 30)
    for it in (0, 3, 6, 7, 29):
        assert lrs[it] == pytest.approx(
            authors_lr(it, max_iters, 1.4, 1e-4, epoch_length, 1e-4)), it
    # A scheduler restored from the state dict continues on the same curve.
    state = scheduler.state_dict()
    _, optimizer2, resumed = _scheduler(TOY, epoch_length)
    resumed.load_state_dict(state)
    optimizer2.param_groups[0]['lr'] = 123.0  # not used by the closed form
    resumed.step()
    scheduler.step()
    assert optimizer2.param_groups[0]['lr'] == pytest.approx(
        optimizer.param_groups[0]['lr'])


def test_bad_arguments_raise_named_errors():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1)
    with pytest.raises(ValueError, match='not both'):
        CosineAnnealingWarmupFactorLR.build_iter_from_epoch(
            optimizer,
            T_max=2,
            warmup_iters=3,
            warmup_epochs=1,
            epoch_length=5)
    with pytest.raises(ValueError, match='convert_to_iter_based'):
        CosineAnnealingWarmupFactorLR(optimizer, T_max=10, warmup_epochs=1)
    with pytest.raises(ValueError, match='epoch-stepped'):
        CosineAnnealingWarmupFactorLR(optimizer, T_max=10, warmup_iters=5)
    with pytest.raises(ValueError, match='warmup_ratio'):
        CosineAnnealingWarmupFactorLR(
            optimizer, T_max=10, by_epoch=False, warmup_ratio=0)
