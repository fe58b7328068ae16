"""DenseCL's two projection heads plus DSC's per-pixel semantic head."""
from typing import NamedTuple, Optional, Sequence, Union

from torch import Tensor, nn

from dense_contrast.registry import MODELS
from .dense_projection_neck import DenseProjectionNeck


class SemanticProjections(NamedTuple):
    """Outputs of :class:`DenseSemanticNeck` (not normalised).

    Attributes:
        global_proj (Tensor): Projection of the pooled map. Shape (N, D).
        dense_proj (Tensor): Dense projection of every location.
            Shape (N, D, S).
        dense_pooled (Tensor): ``dense_proj`` averaged over locations.
            Shape (N, D).
        semantic_proj (Tensor): Semantic embedding of every location, the
            one that is clustered or mapped to prototypes. Shape (N, D, S).
    """
    global_proj: Tensor
    dense_proj: Tensor
    dense_pooled: Tensor
    semantic_proj: Tensor


@MODELS.register_module()
class DenseSemanticNeck(DenseProjectionNeck):
    """:class:`DenseProjectionNeck` with a third, semantic branch for `DSC
    <https://arxiv.org/abs/2109.07756>`_.

    The semantic branch is a 1x1-conv MLP like the dense one (Conv, ReLU,
    Conv), on the same (optionally re-pooled) grid. The paper does not say
    whether the semantic embeddings have their own head; by default they
    do, so that grouping pixels into classes does not compete with
    telling every pixel apart in one embedding. ``share_semantic_with_dense``
    reuses the dense projection instead (no extra parameters).

    Args:
        in_channels (int): Channels C of the last backbone map.
        hid_channels (int): Hidden width of the MLPs.
        out_channels (int): Projection dimension D.
        num_grid (int, optional): See :class:`DenseProjectionNeck`.
        share_semantic_with_dense (bool): Use ``dense_proj`` as the
            semantic embedding. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 hid_channels: int,
                 out_channels: int,
                 num_grid: Optional[int] = None,
                 share_semantic_with_dense: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, hid_channels, out_channels, num_grid,
                         init_cfg)
        self.share_semantic_with_dense = share_semantic_with_dense
        self.semantic_mlp = None if share_semantic_with_dense else \
            nn.Sequential(
                nn.Conv2d(in_channels, hid_channels, 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hid_channels, out_channels, 1))

    def forward(self, feats: Sequence[Tensor]) -> SemanticProjections:
        """Project the last backbone map.

        Args:
            feats (Sequence[Tensor]): Backbone outputs; only the last one,
                of shape (N, C, H, W), is used.

        Returns:
            SemanticProjections: global (N, D), dense (N, D, S), pooled
            dense (N, D) and semantic (N, D, S) projections.
        """
        base = super().forward(feats)
        if self.semantic_mlp is None:
            semantic_proj = base.dense_proj
        else:
            x = feats[-1]
            if self.grid_pool is not None:
                x = self.grid_pool(x)
            semantic_proj = self.semantic_mlp(x).flatten(2)
        return SemanticProjections(*base, semantic_proj=semantic_proj)
