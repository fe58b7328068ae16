"""An auxiliary decoder that reconstructs the input view from the last
backbone map (DenseCL++'s reconstruction task)."""
from typing import Dict, Optional, Sequence, Union

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from dense_contrast.registry import MODELS


@MODELS.register_module()
class ImageReconstructionLoss(nn.Module):
    """Mean pixel error between a reconstruction and its target.

    Args:
        criterion (str): ``'mse'`` (squared error) or ``'l1'``.
            Defaults to 'mse'.
    """

    def __init__(self, criterion: str = 'mse') -> None:
        super().__init__()
        if criterion not in ('mse', 'l1'):
            raise ValueError(
                f"criterion must be 'mse' or 'l1', got {criterion!r}")
        self.criterion = criterion

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean error over images, channels and pixels.

        Args:
            pred (Tensor): Reconstruction. Shape (N, 3, H, W).
            target (Tensor): Target of the same shape.

        Returns:
            Tensor: Scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target '
                             f'{tuple(target.shape)} differ in shape')
        if self.criterion == 'mse':
            return F.mse_loss(pred, target)
        return F.l1_loss(pred, target)


@MODELS.register_module()
class ImageReconstructionHead(BaseModule):
    """Light decoder from the last backbone map to the image.

    Each stage doubles the resolution (bilinear) and applies a 3x3
    Conv + BN + ReLU; a final 1x1 conv gives the 3 channels. With the
    default four stages a stride-32 map becomes a stride-2 image: 112 px for
    a 224 px view. The target is the network's own (normalised) input,
    area-resized to the output size.

    Only pretraining uses it: the weights live under ``rec_head.`` and the
    backbone extraction tool drops them.

    Args:
        in_channels (int): Channels C of the last backbone map.
        channels (Sequence[int]): Output channels of the upsampling stages.
            Defaults to (256, 128, 64, 32).
        out_channels (int): Image channels. Defaults to 3.
        norm_cfg (dict): Normalisation of the stages.
            Defaults to ``dict(type='BN')``.
        loss (dict): Config of the pixel loss.
            Defaults to ``dict(type='ImageReconstructionLoss')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 channels: Sequence[int] = (256, 128, 64, 32),
                 out_channels: int = 3,
                 norm_cfg: Optional[Dict] = None,
                 loss: Optional[Dict] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg)
        if not channels:
            raise ValueError('channels must list at least one stage')
        norm_cfg = norm_cfg or dict(type='BN')
        stages = []
        for c_in, c_out in zip((in_channels, *channels), channels):
            stages += [
                nn.Upsample(
                    scale_factor=2, mode='bilinear', align_corners=False),
                ConvModule(c_in, c_out, 3, padding=1, norm_cfg=norm_cfg)
            ]
        self.decoder = nn.Sequential(*stages,
                                     nn.Conv2d(channels[-1], out_channels, 1))
        self.loss_module = MODELS.build(
            loss or dict(type='ImageReconstructionLoss'))

    def forward(self, feat: Tensor) -> Tensor:
        """Decode a backbone map.

        Args:
            feat (Tensor): Shape (N, C, h, w).

        Returns:
            Tensor: Shape (N, out_channels, h * 2**L, w * 2**L), L stages.
        """
        return self.decoder(feat)

    def loss(self, feat: Tensor, images: Tensor) -> Tensor:
        """Reconstruction loss of a batch of views.

        Args:
            feat (Tensor): Last backbone map. Shape (N, C, h, w).
            images (Tensor): The views the map was computed from, as the
                backbone saw them. Shape (N, 3, H, W).

        Returns:
            Tensor: Scalar loss.
        """
        pred = self(feat)
        target = F.interpolate(images, size=pred.shape[-2:], mode='area')
        return self.loss_module(pred, target)
