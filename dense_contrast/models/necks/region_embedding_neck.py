"""MCL's region head: a detector-style box head on exact feature windows."""
from typing import List, Optional, Union

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmpretrain.models.necks import NonLinearNeck
from torch import Tensor, nn

from dense_contrast.registry import MODELS


@MODELS.register_module()
class RegionEmbeddingNeck(BaseModule):
    """Embeds feature windows with ``num_convs`` x [Conv3x3 + norm + ReLU],
    an average pool and an MLP Linear -> BN -> ReLU -> Linear -> BN (no
    affine): the region head of MCL (``DetConvGpNonLinearHead`` of the
    authors' code, https://github.com/GuoQiushan/MCL), shared by all FPN
    levels.

    The convolutions are :class:`mmcv.cnn.ConvModule` s stored as
    ``shared_convs.{i}``, exactly as in mmdet's ``Shared4Conv1FCBBoxHead``,
    so that the pretrained convs transfer to the detector's box head by name
    (``roi_head.bbox_head.shared_convs.{i}.*``).

    Each window is convolved on its own (zero padding at its border), as a
    RoI head sees a pooled RoI: windows are cut first (see
    :func:`split_windows`), then embedded.

    Args:
        in_channels (int): Channels C of the FPN maps. Defaults to 256.
        hid_channels (int): Hidden width of the MLP. Defaults to 2048.
        out_channels (int): Embedding dim D. Defaults to 256.
        num_convs (int): Stacked 3x3 convs. Defaults to 4.
        norm_cfg (dict): Norm of the convs. Defaults to ``dict(type='BN')``.
        mlp_norm_cfg (dict): Norm of the MLP. Defaults to
            ``dict(type='BN1d')``.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int = 256,
                 hid_channels: int = 2048,
                 out_channels: int = 256,
                 num_convs: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 mlp_norm_cfg: dict = dict(type='BN1d'),
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        self.shared_convs = nn.ModuleList(
            ConvModule(
                in_channels, in_channels, 3, padding=1, norm_cfg=norm_cfg)
            for _ in range(num_convs))
        self.mlp = NonLinearNeck(
            in_channels,
            hid_channels,
            out_channels,
            num_layers=2,
            with_bias=True,
            with_last_bn=True,
            with_last_bn_affine=False,
            with_last_bias=True,
            with_avg_pool=False,
            norm_cfg=mlp_norm_cfg)

    def forward(self, windows: Tensor) -> Tensor:
        """Embed windows.

        Args:
            windows (Tensor): Shape (B, C, h, w).

        Returns:
            Tensor: Embeddings (not normalised), shape (B, D).
        """
        for conv in self.shared_convs:
            windows = conv(windows)
        return self.mlp((windows.mean(dim=(2, 3)), ))[0]
