"""Automatic mixed precision on any device (CPU included)."""
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from dense_contrast.registry import OPTIM_WRAPPERS

_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(OptimWrapper):
    """Mixed-precision optimizer wrapper that works on CPU and GPU.

    mmengine 0.10.7's ``AmpOptimWrapper`` refuses to be built without a
    GPU. This wrapper runs the forward under :func:`torch.autocast` on the
    device that holds the parameters and picks the precision from it:

    - CUDA (and other accelerators): float16 with dynamic loss scaling
      (:class:`torch.amp.GradScaler`), as ``AmpOptimWrapper``;
    - CPU: bfloat16 without a loss scaler. bfloat16 has float32's exponent
      range, so small gradients do not underflow and scaling would only
      cost time.

    Parameters, optimizer state, the momentum encoder and the queues stay
    float32; only autocast-eligible ops (convolutions, matmuls) run in the
    low precision. ``state_dict`` carries the scaler's state under
    ``loss_scaler`` like ``AmpOptimWrapper``, so checkpoints are
    interchangeable.

    Args:
        dtype (str or torch.dtype, optional): ``'float16'`` or
            ``'bfloat16'``. Defaults to None: float16 on an accelerator,
            bfloat16 on the CPU.
        loss_scale (str, float or dict): Loss scaling, used with float16
            only: ``'dynamic'``, a fixed initial scale, or the keyword
            arguments of :class:`torch.amp.GradScaler`. Defaults to
            ``'dynamic'``.
        device_type (str, optional): Autocast device type. Defaults to None:
            the device type of the first optimized parameter.
        **kwargs: See :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self,
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 device_type: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if device_type is None:
            device_type = next(
                (p.device.type for group in self.optimizer.param_groups
                 for p in group['params']), 'cpu')
        if dtype is None:
            dtype = torch.bfloat16 if device_type == 'cpu' else torch.float16
        elif isinstance(dtype, str):
            if dtype not in _DTYPES:
                raise ValueError(
                    f'MixedPrecisionOptimWrapper: dtype must be one of '
                    f'{sorted(_DTYPES)}, got {dtype!r}')
            dtype = _DTYPES[dtype]
        if dtype not in _DTYPES.values():
            raise ValueError('MixedPrecisionOptimWrapper: dtype must be '
                             f'float16 or bfloat16, got {dtype}')
        self.device_type = device_type
        self.cast_dtype = dtype
        use_scaler = dtype == torch.float16
        if loss_scale == 'dynamic':
            scaler_kwargs = {}
        elif isinstance(loss_scale, (int, float)):
            scaler_kwargs = dict(init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            scaler_kwargs = dict(loss_scale)
        else:
            raise TypeError('MixedPrecisionOptimWrapper: loss_scale must be '
                            "'dynamic', a number or a dict, got "
                            f'{loss_scale!r}')
        # A disabled scaler is the identity: one code path for both cases.
        self.loss_scaler = torch.amp.GradScaler(
            device_type, enabled=use_scaler, **scaler_kwargs)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """Back-propagate the (scaled, with float16) loss."""
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs) -> None:
        """Unscale (float16), clip if configured, step and update the
        scale. With float16, a step whose gradients overflowed is skipped."""
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update()

    def state_dict(self) -> dict:
        state_dict = super().state_dict()
        state_dict['loss_scaler'] = self.loss_scaler.state_dict()
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        scaler_state = state_dict.pop('loss_scaler', None)
        # An empty state comes from a disabled (bfloat16) scaler.
        if scaler_state and self.loss_scaler.is_enabled():
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` plus autocast."""
        with super().optim_context(model), torch.autocast(
                self.device_type, dtype=self.cast_dtype):
            yield
