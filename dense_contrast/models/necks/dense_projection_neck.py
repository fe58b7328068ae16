"""DenseCL's two projection heads: one on the pooled map, one per location."""
import re
from collections import OrderedDict
from typing import Dict, NamedTuple, Optional, Sequence, Union

from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from dense_contrast.registry import MODELS


# mmpretrain's / the authors' DenseCLNeck layer names -> ours.
LEGACY_LAYER_NAMES = {r'^mlp\.': 'global_mlp.', r'^mlp2\.': 'dense_mlp.'}


def _rename_legacy_layers(module: nn.Module, state_dict: Dict[str, Tensor],
                          prefix: str, *args) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        local = key[len(prefix):]
        for pattern, new in LEGACY_LAYER_NAMES.items():
            if re.match(pattern, local):
                state_dict[prefix + re.sub(pattern, new, local)] = \
                    state_dict.pop(key)
                break


class DenseProjections(NamedTuple):
    """Outputs of :class:`DenseProjectionNeck` (not normalised).

    Attributes:
        global_proj (Tensor): Projection of the average-pooled map. Shape (N, D).
        dense_proj (Tensor): Projection of every location. Shape (N, D, S).
        dense_pooled (Tensor): ``dense_proj`` averaged over locations, what
            DenseCL stores as a dense negative. Shape (N, D).
    """
    global_proj: Tensor
    dense_proj: Tensor
    dense_pooled: Tensor


def _normed_mlp(layer: type, norm_cfg: dict, in_channels: int,
                hid_channels: int, out_channels: int) -> nn.Sequential:
    """Two bias-free layers, each followed by a norm layer, with a ReLU
    between them: ``fc0, bn0, relu, fc1, bn1``.

    Args:
        layer (callable): ``layer(in, out, bias=False)`` builds a layer,
            e.g. ``nn.Linear``.
        norm_cfg (dict): mmcv norm config.
        in_channels (int): Input channels.
        hid_channels (int): Hidden channels.
        out_channels (int): Output channels.

    Returns:
        nn.Sequential: The MLP.
    """
    return nn.Sequential(
        OrderedDict(
            fc0=layer(in_channels, hid_channels, bias=False),
            bn0=build_norm_layer(norm_cfg, hid_channels)[1],
            relu=nn.ReLU(inplace=True),
            fc1=layer(hid_channels, out_channels, bias=False),
            bn1=build_norm_layer(norm_cfg, out_channels)[1]))


@MODELS.register_module()
class DenseProjectionNeck(BaseModule):
    """Global MLP and dense 1x1-conv MLP of `DenseCL
    <https://arxiv.org/abs/2011.09157>`_, as in the authors' ``DenseCLNeck``.

    The global branch is MoCo v2's head: pool, Linear, ReLU, Linear. The
    dense branch applies the same two layers as 1x1 convolutions at every
    location of the (optionally re-pooled) map. Neither has normalisation
    layers, unless ``norm_cfg`` is given: then every layer is followed by
    a norm layer and has no bias (Linear, BN, ReLU, Linear, BN, as
    SimCLR's projection head and mmpretrain's ``NonLinearNeck``), and the
    layers are named ``fc0, bn0, relu, fc1, bn1`` so that optimiser rules
    matching ``'bn'`` (no weight decay, no LARS adaptation) reach them.

    State dicts of mmpretrain's ``DenseCLNeck`` load as they are: its layers
    ``mlp`` and ``mlp2`` are renamed ``global_mlp`` and ``dense_mlp`` at load
    time (``LEGACY_LAYER_NAMES``).

    Args:
        in_channels (int): Channels C of the last backbone map.
        hid_channels (int): Hidden width of both MLPs.
        out_channels (int): Projection dimension D.
        num_grid (int, optional): If set, the map is average-pooled to
            ``num_grid x num_grid`` before the dense branch. Defaults to None
            (keep the native grid, as the authors do).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None (PyTorch's default init, as mmpretrain; the
            authors' code uses Kaiming fan_in on the Linear layers, which the
            configs set explicitly).
        norm_cfg (dict, optional): Norm layer of both MLPs, e.g.
            ``dict(type='SyncBN')`` (SimCLR's global BN across processes);
            ``'BN'`` gives ``BatchNorm1d`` in the global branch and
            ``BatchNorm2d`` in the dense one. Defaults to None (DenseCL's
            MLPs without norm layers).
    """

    def __init__(self,
                 in_channels: int,
                 hid_channels: int,
                 out_channels: int,
                 num_grid: Optional[int] = None,
                 init_cfg: Optional[Union[dict, list]] = None,
                 norm_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if norm_cfg is None:
            self.global_mlp = nn.Sequential(
                nn.Linear(in_channels, hid_channels), nn.ReLU(inplace=True),
                nn.Linear(hid_channels, out_channels))
            self.dense_mlp = nn.Sequential(
                nn.Conv2d(in_channels, hid_channels, 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hid_channels, out_channels, 1))
        else:
            # Per-sample vectors need the 1d variant of plain BN (SyncBN
            # takes both shapes).
            global_norm = dict(norm_cfg)
            if global_norm.get('type') == 'BN':
                global_norm['type'] = 'BN1d'
            self.global_mlp = _normed_mlp(nn.Linear, global_norm,
                                          in_channels, hid_channels,
                                          out_channels)
            self.dense_mlp = _normed_mlp(
                lambda i, o, bias: nn.Conv2d(i, o, 1, bias=bias), norm_cfg,
                in_channels, hid_channels, out_channels)
        self.grid_pool = (None if num_grid is None else nn.AdaptiveAvgPool2d(
            (num_grid, num_grid)))
        self.register_load_state_dict_pre_hook(_rename_legacy_layers)

    def forward(self, feats: Sequence[Tensor]) -> DenseProjections:
        """Project the last backbone map.

        Args:
            feats (Sequence[Tensor]): Backbone outputs; only the last one is
                used. Its shape is (N, C, H, W).

        Returns:
            DenseProjections: global (N, D), dense (N, D, S) and pooled dense
            (N, D) projections, S = H * W (or ``num_grid ** 2``).
        """
        x = feats[-1]
        global_proj = self.global_mlp(x.mean(dim=(2, 3)))
        if self.grid_pool is not None:
            x = self.grid_pool(x)
        dense_proj = self.dense_mlp(x).flatten(2)  # N, D, S
        return DenseProjections(global_proj, dense_proj,
                                dense_proj.mean(dim=2))
