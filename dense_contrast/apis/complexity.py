"""FLOPs and parameters of a config's model through ``mmengine.analysis``.

The work behind ``tools/analysis_tools/get_flops.py``. A pretraining model's
``forward`` needs two views, a queue and data samples, so what is measured is
the encoder that transfers: one image through the online backbone (and, on
request, its neck), as mmpretrain's model zoo reports FLOPs for its
self-supervised methods. Parameters are counted for that part and, apart,
for the whole model (key encoder, queues and heads included).
"""
from typing import Dict, Sequence, Union

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

__all__ = ['COMPLEXITY_PARTS', 'model_complexity']

#: What :func:`model_complexity` can measure.
COMPLEXITY_PARTS = ('backbone', 'backbone+neck')


class _Encoder(nn.Module):
    """The online backbone, optionally followed by the neck.

    Args:
        backbone (nn.Module): Maps images (1, 3, H, W) to a tuple of maps.
        neck (nn.Module, optional): Takes the backbone's tuple.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, images: torch.Tensor):
        """Args:
            images (Tensor): (1, 3, H, W).

        Returns:
            The backbone's (or the neck's) output.
        """
        feats = self.backbone(images)
        return self.neck(feats) if self.neck is not None else feats


def model_complexity(config: Union[str, Config],
                     input_shape: Sequence[int] = (3, 224, 224),
                     part: str = 'backbone') -> Dict[str, object]:
    """FLOPs and parameters of one image through a config's encoder.

    Args:
        config (str | Config): A pretraining config (file or loaded).
        input_shape (Sequence[int]): (C, H, W) of the image. Defaults to
            (3, 224, 224).
        part (str): ``'backbone'`` or ``'backbone+neck'``. Defaults to
            'backbone'.

    Returns:
        dict: ``flops`` (int, multiply-adds counted as one, mmengine's
        convention), ``flops_str``, ``params`` (int, of ``part``),
        ``params_str``, ``model_params`` (int, the whole model),
        ``input_shape`` (tuple), ``part``, and ``table`` (mmengine's
        per-module table, str).

    Raises:
        ValueError: If ``part`` or ``input_shape`` is malformed, or the
            model has no ``backbone`` (or no ``neck`` for
            ``'backbone+neck'``).
    """
    from dense_contrast.registry import MODELS

    if part not in COMPLEXITY_PARTS:
        raise ValueError(
            f'part must be one of {COMPLEXITY_PARTS}, got {part!r}')
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(
            f'input_shape must be (C, H, W), got {input_shape}')
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    source = config if isinstance(config, str) else 'the config'
    init_default_scope(cfg.get('default_scope', 'dense_contrast'))
    model = MODELS.build(cfg.model)
    model.eval()
    if getattr(model, 'backbone', None) is None:
        raise ValueError(f'{source}: model {cfg.model.get("type")} has no '
                         'backbone to measure')
    neck = None
    if part == 'backbone+neck':
        neck = getattr(model, 'neck', None)
        if neck is None:
            raise ValueError(f'{source}: model {cfg.model.get("type")} has '
                             "no neck; use part='backbone'")
    encoder = _Encoder(model.backbone, neck)
    with torch.no_grad():
        info = get_model_complexity_info(
            encoder,
            inputs=(torch.zeros(1, *input_shape), ),
            show_table=True,
            show_arch=False)
    return dict(
        flops=int(info['flops']),
        flops_str=info['flops_str'],
        params=int(info['params']),
        params_str=info['params_str'],
        model_params=sum(p.numel() for p in model.parameters()),
        input_shape=input_shape,
        part=part,
        table=info['out_table'])
