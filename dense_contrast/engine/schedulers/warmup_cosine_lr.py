"""A cosine learning rate multiplied by a linear warm-up factor."""
import math
from typing import List, Optional, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler import CosineAnnealingLR
from torch.optim import Optimizer

from dense_contrast.registry import PARAM_SCHEDULERS

INF = int(1e9)  # mmengine's default ``end`` of a parameter scheduler


@PARAM_SCHEDULERS.register_module()
class CosineAnnealingWarmupFactorLR(CosineAnnealingLR):
    r"""Cosine annealing over the whole run, multiplied by a linear warm-up
    factor during the first steps: MCL's schedule (the authors'
    ``CosineAnnealingIntervalLrUpdaterHook`` with mmcv's linear warm-up,
    https://github.com/GuoQiushan/MCL).

    With :math:`t` the step counted from ``begin``, :math:`b` the base lr of
    a parameter group, :math:`W` the warm-up length and :math:`r` the
    ``warmup_ratio``,

    .. math::
        \mathrm{lr}(t) = f(t)\left(\eta_{min} + \tfrac{1}{2}(b - \eta_{min})
        \left(1 + \cos\frac{\pi t}{T_{max}}\right)\right),\qquad
        f(t) = \begin{cases}
            1 - (1 - t / W)(1 - r) & t < W \\ 1 & t \ge W.
        \end{cases}

    The cosine starts at step 0, not after the warm-up, so the lr at the
    end of the warm-up is already below ``b``. mmengine's ``LinearLR``
    followed or accompanied by ``CosineAnnealingLR`` cannot give this: the
    built-in schedulers update the lr recursively, and composing them
    multiplies the warm-up into :math:`\eta_{min}` as well. The value here is
    computed in closed form from the base lr, so a resumed run (which
    restores ``last_step``) continues on the same curve.

    Args:
        optimizer (Optimizer or BaseOptimWrapper): The wrapped optimizer.
        T_max (int or float, optional): Length of the cosine, in the
            scheduler's unit (epochs when ``by_epoch=True``, converted to
            iterations by ``convert_to_iter_based=True``). Defaults to None:
            ``end - begin``.
        eta_min (float, optional): Minimum lr. Defaults to None (0 unless
            ``eta_min_ratio`` is given).
        eta_min_ratio (float, optional): Minimum lr as a ratio of the base
            lr; give ``eta_min`` or this, not both. Defaults to None.
        warmup_iters (int, optional): Warm-up length W in iterations. The
            schedule must then run per iteration (``by_epoch=False``, or
            ``by_epoch=True`` with ``convert_to_iter_based=True``).
            Defaults to None.
        warmup_epochs (float, optional): Warm-up length W in epochs,
            converted to iterations with the cosine; give this or
            ``warmup_iters``, not both. Defaults to None (no warm-up unless
            ``warmup_iters`` is given).
        warmup_ratio (float): r, the warm-up factor at step 0. Must be in
            (0, 1]. Defaults to 1e-4 (the authors').
        begin (int): First step of the schedule. Defaults to 0.
        end (int): Step at which the schedule stops. Defaults to INF.
        last_step (int): The index of the last step, to resume without a
            state dict. Defaults to -1.
        by_epoch (bool): Whether the steps are epochs. Defaults to True.
        verbose (bool): Whether to print every value. Defaults to False.

    Raises:
        ValueError: If both or an invalid warm-up length is given, if
            ``warmup_ratio`` is outside (0, 1], or if an iteration warm-up
            is paired with an epoch-stepped schedule.
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 T_max: Optional[Union[int, float]] = None,
                 eta_min: Optional[float] = None,
                 eta_min_ratio: Optional[float] = None,
                 warmup_iters: Optional[int] = None,
                 warmup_epochs: Optional[float] = None,
                 warmup_ratio: float = 1e-4,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if warmup_iters is not None and warmup_epochs is not None:
            raise ValueError('CosineAnnealingWarmupFactorLR: give '
                             'warmup_iters or warmup_epochs, not both (got '
                             f'{warmup_iters} and {warmup_epochs})')
        if warmup_epochs is not None:
            # Reached only when the config was not converted to iterations.
            raise ValueError(
                'CosineAnnealingWarmupFactorLR: warmup_epochs='
                f'{warmup_epochs} needs by_epoch=True with '
                'convert_to_iter_based=True (the warm-up is per iteration)')
        if warmup_iters is not None:
            if warmup_iters < 0:
                raise ValueError('CosineAnnealingWarmupFactorLR: '
                                 f'warmup_iters must be >= 0, got '
                                 f'{warmup_iters}')
            if by_epoch and warmup_iters > 0:
                raise ValueError(
                    'CosineAnnealingWarmupFactorLR: warmup_iters='
                    f'{warmup_iters} with an epoch-stepped schedule; set '
                    'by_epoch=False or convert_to_iter_based=True')
        if not 0 < warmup_ratio <= 1:
            raise ValueError('CosineAnnealingWarmupFactorLR: warmup_ratio '
                             f'must be in (0, 1], got {warmup_ratio}')
        self.warmup_iters = int(warmup_iters or 0)
        self.warmup_ratio = warmup_ratio
        super().__init__(
            optimizer,
            T_max=T_max,
            eta_min=eta_min,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose,
            eta_min_ratio=eta_min_ratio)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              T_max: Optional[Union[int, float]] = None,
                              begin: int = 0,
                              end: int = INF,
                              by_epoch: bool = True,
                              epoch_length: Optional[int] = None,
                              warmup_epochs: Optional[float] = None,
                              **kwargs) -> 'CosineAnnealingWarmupFactorLR':
        """Build the per-iteration schedule from an epoch-based config.

        ``T_max``, ``begin``, ``end`` and ``warmup_epochs`` are multiplied by
        ``epoch_length``; ``warmup_iters`` is kept as it is.

        Args:
            *args: Positional arguments of the constructor.
            T_max (int or float, optional): Cosine length in epochs.
            begin (int): First epoch. Defaults to 0.
            end (int): Last epoch (exclusive). Defaults to INF.
            by_epoch (bool): Must be True. Defaults to True.
            epoch_length (int, optional): Iterations per epoch.
            warmup_epochs (float, optional): Warm-up in epochs.
            **kwargs: Other keyword arguments of the constructor.

        Returns:
            CosineAnnealingWarmupFactorLR: An iteration-based scheduler.
        """
        if not by_epoch:
            raise ValueError('CosineAnnealingWarmupFactorLR: only a config '
                             'with by_epoch=True can be converted to '
                             'iterations')
        if epoch_length is None or epoch_length <= 0:
            raise ValueError('CosineAnnealingWarmupFactorLR: epoch_length '
                             f'must be a positive integer, got {epoch_length}')
        if warmup_epochs is not None:
            if kwargs.get('warmup_iters') is not None:
                raise ValueError('CosineAnnealingWarmupFactorLR: give '
                                 'warmup_iters or warmup_epochs, not both')
            kwargs['warmup_iters'] = int(round(warmup_epochs * epoch_length))
        if T_max is not None:
            T_max = int(round(T_max * epoch_length))
        begin = int(begin * epoch_length)
        if end != INF:
            end = int(end * epoch_length)
        return cls(
            *args, T_max=T_max, begin=begin, end=end, by_epoch=False, **kwargs)

    def warmup_factor(self, step: int) -> float:
        """The warm-up factor f(t) of step ``step`` (counted from
        ``begin``)."""
        if step >= self.warmup_iters:
            return 1.0
        return 1.0 - (1.0 - step / self.warmup_iters) * (1.0 -
                                                         self.warmup_ratio)

    def _get_value(self) -> List[float]:
        """Closed-form lr of every parameter group at ``last_step``."""
        step = self.last_step
        progress = 0.5 * (1 + math.cos(math.pi * step / self.T_max))
        factor = self.warmup_factor(step)
        values = []
        for base in self.base_values:
            eta_min = (
                self.eta_min if self.eta_min_ratio is None else base *
                self.eta_min_ratio)
            values.append(factor * (eta_min + (base - eta_min) * progress))
        return values
