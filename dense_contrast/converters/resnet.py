"""ResNet backbones: recognise one from its keys, and rename it for
torchvision and detectron2.

The backbone layout of this project is that of mmpretrain's (and mmdet's,
mmseg's) ``ResNet``: ``conv1.weight``, ``bn1.*``, ``layer{1-4}.{j}.conv{k}``,
``layer{1-4}.{j}.bn{k}``, ``layer{1-4}.0.downsample.{0,1}``. torchvision's
``resnet*`` use the same names plus the classifier ``fc``, and compute the
same function (stride on the 3x3 convolution, BN eps 1e-5). detectron2's
``ResNet`` names the stem ``stem.conv1`` with its BN as ``stem.conv1.norm``,
the stages ``res2``-``res5``, each BN as ``.norm`` of its convolution and the
projection shortcut ``shortcut``.
"""
import re
from typing import Dict, Mapping, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .layout import WeightLayoutError, compare_with_reference

__all__ = [
    'ResNetArch', 'infer_resnet_arch', 'resnet_reference',
    'check_resnet', 'backbone_to_torchvision', 'torchvision_to_backbone',
    'backbone_to_detectron2', 'detectron2_to_backbone',
    'TORCHVISION_HEAD_KEYS'
]

#: The classifier of torchvision's ResNet, which a pretrained backbone
#: does not have.
TORCHVISION_HEAD_KEYS = ('fc.weight', 'fc.bias')

_STAGE_KEY = re.compile(r'^layer(\d+)\.(\d+)\.')
_BN_BUFFERS = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
# Ours -> detectron2, per stage block.
_TO_D2 = (
    (re.compile(r'^conv1\.weight$'), 'stem.conv1.weight'),
    (re.compile(rf'^bn1\.{_BN_BUFFERS}$'), r'stem.conv1.norm.\1'),
    (re.compile(r'^layer(\d)\.(\d+)\.conv(\d)\.weight$'),
     lambda m: f'res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.weight'),
    (re.compile(rf'^layer(\d)\.(\d+)\.bn(\d)\.{_BN_BUFFERS}$'),
     lambda m: f'res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.{m[4]}'),
    (re.compile(r'^layer(\d)\.(\d+)\.downsample\.0\.weight$'),
     lambda m: f'res{int(m[1]) + 1}.{m[2]}.shortcut.weight'),
    (re.compile(rf'^layer(\d)\.(\d+)\.downsample\.1\.{_BN_BUFFERS}$'),
     lambda m: f'res{int(m[1]) + 1}.{m[2]}.shortcut.norm.{m[3]}'),
)
# detectron2 -> ours.
_FROM_D2 = (
    (re.compile(r'^stem\.conv1\.weight$'), 'conv1.weight'),
    (re.compile(rf'^stem\.conv1\.norm\.{_BN_BUFFERS}$'), r'bn1.\1'),
    (re.compile(r'^res(\d)\.(\d+)\.conv(\d)\.weight$'),
     lambda m: f'layer{int(m[1]) - 1}.{m[2]}.conv{m[3]}.weight'),
    (re.compile(rf'^res(\d)\.(\d+)\.conv(\d)\.norm\.{_BN_BUFFERS}$'),
     lambda m: f'layer{int(m[1]) - 1}.{m[2]}.bn{m[3]}.{m[4]}'),
    (re.compile(r'^res(\d)\.(\d+)\.shortcut\.weight$'),
     lambda m: f'layer{int(m[1]) - 1}.{m[2]}.downsample.0.weight'),
    (re.compile(rf'^res(\d)\.(\d+)\.shortcut\.norm\.{_BN_BUFFERS}$'),
     lambda m: f'layer{int(m[1]) - 1}.{m[2]}.downsample.1.{m[3]}'),
)


class ResNetArch(NamedTuple):
    """The arguments of mmpretrain's ``ResNet`` that fix its state dict.

    Attributes:
        depth (int): 18, 34, 50, 101 or 152.
        stem_channels (int): Output channels of the stem (64 for the
            standard widths).
        base_channels (int): Width of the first stage (64 as well).
    """
    depth: int
    stem_channels: int
    base_channels: int


def infer_resnet_arch(state_dict: Mapping[str, Tensor], path: str,
                      layout: str) -> ResNetArch:
    """Recognise a ResNet from its backbone keys (without a prefix).

    Args:
        state_dict (Mapping[str, Tensor]): Backbone weights.
        path (str): The source file, for the error message.
        layout (str): The declared layout, for the error message.

    Returns:
        ResNetArch: Depth and widths.

    Raises:
        WeightLayoutError: If the keys are not those of a ResNet of a known
            depth with the plain 7x7 stem.
    """
    from mmpretrain.models import ResNet
    blocks: Dict[int, set] = {}
    for key in state_dict:
        match = _STAGE_KEY.match(key)
        if match:
            blocks.setdefault(int(match[1]), set()).add(int(match[2]))
    counts = tuple(len(blocks.get(i, ())) for i in range(1, 5))
    bottleneck = 'layer1.0.conv3.weight' in state_dict
    required = [
        k for k in ('conv1.weight', 'layer1.0.conv1.weight')
        if k not in state_dict
    ]
    for depth, (block, stage_blocks) in ResNet.arch_settings.items():
        if (tuple(stage_blocks) == counts
                and (block.__name__ == 'Bottleneck') == bottleneck):
            if required:
                raise WeightLayoutError(path, layout, missing=required)
            return ResNetArch(
                depth, int(state_dict['conv1.weight'].shape[0]),
                int(state_dict['layer1.0.conv1.weight'].shape[0]))
    raise WeightLayoutError(
        path,
        layout,
        missing=required,
        hint=('Its backbone is not a ResNet-18/34/50/101/152 with the 7x7 '
              f'stem (blocks per stage: {counts}, '
              f'{"bottleneck" if bottleneck else "basic"} blocks); '
              'deep-stem variants (ResNetV1c/V1d) are not converted.'))


def resnet_reference(arch: ResNetArch) -> Dict[str, Tensor]:
    """The state dict of mmpretrain's ``ResNet`` with these arguments.

    Args:
        arch (ResNetArch): Depth and widths.

    Returns:
        dict[str, Tensor]: Names to (randomly initialised) tensors.
    """
    from mmpretrain.models import ResNet
    return ResNet(
        depth=arch.depth,
        stem_channels=arch.stem_channels,
        base_channels=arch.base_channels).state_dict()


def check_resnet(state_dict: Dict[str, Tensor], path: str,
                 layout: str) -> ResNetArch:
    """Require backbone weights to be exactly those of a ResNet.

    Missing ``num_batches_tracked`` counters are not errors (see
    :func:`~.layout.fill_num_batches_tracked`); the caller fills them.

    Args:
        state_dict (dict[str, Tensor]): Backbone weights, no prefix.
        path (str): The source file, for the message.
        layout (str): The declared layout, for the message.

    Returns:
        ResNetArch: The recognised architecture.

    Raises:
        WeightLayoutError: If a key is missing or unexpected, or a shape
            differs from the ResNet of the recognised depth.
    """
    arch = infer_resnet_arch(state_dict, path, layout)
    reference = resnet_reference(arch)
    present = dict(state_dict)
    for key in reference:
        if key.endswith('num_batches_tracked') and key not in present:
            present[key] = reference[key]
    compare_with_reference(present, reference, path, layout)
    return arch


def backbone_to_torchvision(backbone: Mapping[str, Tensor]
                            ) -> Dict[str, Tensor]:
    """Name a ResNet backbone for torchvision's ``resnet*``.

    The names are already torchvision's; the classifier ``fc`` is not
    added (a pretrained backbone has none), so load the result with
    ``strict=True`` into a model whose ``fc`` is ``nn.Identity()``, or with
    ``strict=False`` and check that only :data:`TORCHVISION_HEAD_KEYS` are
    missing.

    Args:
        backbone (Mapping[str, Tensor]): Backbone weights, no prefix.

    Returns:
        dict[str, Tensor]: torchvision names to tensors.
    """
    return {key: value for key, value in backbone.items()}


def torchvision_to_backbone(state_dict: Mapping[str, Tensor]
                            ) -> Dict[str, Tensor]:
    """The inverse of :func:`backbone_to_torchvision`: drop ``fc``.

    Args:
        state_dict (Mapping[str, Tensor]): A torchvision ResNet state dict.

    Returns:
        dict[str, Tensor]: Backbone weights.
    """
    return {
        key: value
        for key, value in state_dict.items()
        if key not in TORCHVISION_HEAD_KEYS
    }


def _rename(key: str, table) -> str:
    for pattern, target in table:
        match = pattern.match(key)
        if match:
            return target(match) if callable(target) else match.expand(
                target)
    raise KeyError(key)


def backbone_to_detectron2(backbone: Mapping[str, Tensor]
                           ) -> Dict[str, np.ndarray]:
    """Name a ResNet backbone for detectron2, as numpy arrays.

    BN counters ``num_batches_tracked`` are kept (as ``.norm.
    num_batches_tracked``); detectron2's frozen BN ignores them.

    Args:
        backbone (Mapping[str, Tensor]): Backbone weights, no prefix.

    Returns:
        dict[str, np.ndarray]: detectron2 names (``stem.conv1.weight``,
        ``res2.0.conv1.norm.weight``, ``res2.0.shortcut.weight``, ...) to
        arrays.

    Raises:
        ValueError: If a key is not a ResNet backbone key.
    """
    out = {}
    for key, value in backbone.items():
        try:
            name = _rename(key, _TO_D2)
        except KeyError:
            raise ValueError(f'{key!r} is not a key of a ResNet backbone '
                             '(conv1, bn1, layer*)') from None
        out[name] = value.detach().cpu().numpy()
    return out


def detectron2_to_backbone(model: Mapping[str, np.ndarray]
                           ) -> Dict[str, Tensor]:
    """The inverse of :func:`backbone_to_detectron2`.

    Args:
        model (Mapping[str, np.ndarray]): The ``'model'`` dict of a
            detectron2 ``.pkl`` with ResNet backbone names (other keys, such
            as a detector's heads, are not accepted).

    Returns:
        dict[str, Tensor]: Backbone weights.

    Raises:
        ValueError: If a key is not a detectron2 ResNet backbone key.
    """
    out = {}
    for key, value in model.items():
        try:
            name = _rename(key, _FROM_D2)
        except KeyError:
            raise ValueError(f'{key!r} is not a key of a detectron2 ResNet '
                             'backbone (stem, res2-res5)') from None
        out[name] = torch.from_numpy(np.array(value))
    return out
