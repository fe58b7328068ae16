"""Precise BN statistics recomputed with the training forward."""
import copy
from typing import Iterator, Optional, Sequence

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
# The common base of BatchNorm1d/2d/3d and SyncBatchNorm; torch has no
# public one (mmcv and mmengine test for BN layers the same way).
from torch.nn.modules.batchnorm import _BatchNorm

from dense_contrast.registry import HOOKS


@HOOKS.register_module()
class TrainPreciseBNHook(Hook):
    """Replace the BN running statistics by their average over training
    batches, every ``interval`` iterations and after the last one:
    detectron2's ``TEST.PRECISE_BN`` (its ``PreciseBN`` hook), for mmdet
    configs.

    With the weights fixed, each BN layer's batch mean and variance are
    averaged over ``num_iters`` batches of a second loader built from the
    run's ``train_dataloader`` config (the same data, augmentation and
    sampler seed); its iterator persists, so successive updates read
    successive batches. The batches go through the data preprocessor and
    the model's ``'loss'`` forward without gradients, so every BN layer sees
    what it sees in training (for a two-stage detector, the sampled RoIs).
    The averages are then averaged over processes (SyncBN makes them equal
    already). With ``priority='NORMAL'`` the hook runs before
    ``CheckpointHook`` and before the validation of the same iteration.

    mmpretrain's ``PreciseBNHook`` differs where it matters for detectors:
    it iterates the training loader itself, which restarts the training
    stream of a loader with persistent workers; it reads
    ``loader.batch_size``, which is None under mmdet's
    ``AspectRatioBatchSampler``; and it runs the ``'tensor'`` forward, which
    gives RoI heads test-time proposals.

    Args:
        num_iters (int): Batches averaged per update. Defaults to 200
            (detectron2's ``TEST.PRECISE_BN.NUM_ITER``).
        interval (int): Update every ``interval`` training iterations.
            Defaults to 10000.

    Raises:
        ValueError: If ``num_iters`` or ``interval`` is not positive.
    """

    priority = 'NORMAL'

    def __init__(self, num_iters: int = 200, interval: int = 10000) -> None:
        if num_iters <= 0 or interval <= 0:
            raise ValueError('TrainPreciseBNHook: num_iters and interval '
                             f'must be > 0, got {num_iters} and {interval}')
        self.num_iters = num_iters
        self.interval = interval
        self._batches: Optional[Iterator] = None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Update the statistics every ``interval`` iterations and after
        the last one."""
        if (self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            self.update_stats(runner)

    def _next_batch(self, runner) -> dict:
        """The next batch of the hook's own training loader."""
        if self._batches is None:
            if 'train_dataloader' not in runner.cfg:
                raise RuntimeError(
                    'TrainPreciseBNHook builds its loader from the run\'s '
                    'config, which has no train_dataloader (build the '
                    'Runner with Runner.from_cfg or pass cfg=)')
            loader = runner.build_dataloader(
                copy.deepcopy(runner.cfg.train_dataloader), seed=runner.seed)
            self._batches = _forever(loader)
        return next(self._batches)

    def update_stats(self, runner) -> None:
        """Recompute the running statistics of every BN layer in training
        mode.

        Args:
            runner (Runner): The runner; its model, ``cfg.train_dataloader``,
                ``seed`` and ``build_dataloader`` are used.
        """
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        layers = [
            m for m in model.modules() if isinstance(m, _BatchNorm)
            and m.training and m.track_running_stats
        ]
        if not layers:
            print_log(
                'TrainPreciseBNHook: no BN layer in training mode',
                logger='current')
            return
        means = [torch.zeros_like(bn.running_mean) for bn in layers]
        variances = [torch.zeros_like(bn.running_var) for bn in layers]
        momenta = [bn.momentum for bn in layers]
        for bn in layers:
            bn.momentum = 1.0  # running stats := the last batch's stats
        try:
            with torch.no_grad():
                for step in range(self.num_iters):
                    data = model.data_preprocessor(
                        self._next_batch(runner), True)
                    model(**data, mode='loss')
                    for k, bn in enumerate(layers):
                        means[k] += (bn.running_mean - means[k]) / (step + 1)
                        variances[k] += (bn.running_var - variances[k]) / (
                            step + 1)
        finally:
            for bn, momentum in zip(layers, momenta):
                bn.momentum = momentum
        for bn, mean, variance in zip(layers, means, variances):
            all_reduce(mean, op='mean')
            all_reduce(variance, op='mean')
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(variance)
        print_log(
            f'TrainPreciseBNHook: statistics of {len(layers)} BN layers '
            f'averaged over {self.num_iters} batches at iteration '
            f'{runner.iter + 1}',
            logger='current')


def _forever(loader: Sequence) -> Iterator:
    """Batches of ``loader``, restarting it when it ends (an epoch-based
    sampler)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError('TrainPreciseBNHook: the training loader is '
                             'empty')
