"""MCL's loss: per-level predictors and InfoNCE against image targets."""
import copy
from typing import List, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from dense_contrast.registry import MODELS
from ..utils import build_module


class LevelLoss(NamedTuple):
    """Loss of one level and branch, with cosine diagnostics.

    Attributes:
        loss (Tensor): Weighted loss, scalar.
        pos_cos (Tensor): Mean cosine of a tile to its own image's target,
            scalar, no gradient.
        neg_cos (Tensor): Mean cosine of a tile to the other targets,
            scalar, no gradient.
    """
    loss: Tensor
    pos_cos: Tensor
    neg_cos: Tensor


@MODELS.register_module()
class MultiLevelContrastHead(BaseModule):
    """One predictor per montage level and MCL's InfoNCE over image targets
    (``LatentMultiPredictContrastHead`` of the authors' code,
    https://github.com/GuoQiushan/MCL).

    For level i, the T tile embeddings go through predictor i and are
    L2-normalised to z; with the B unit-norm targets (the other branch's
    full-view embeddings of the global batch) and labels y (the global index
    of each tile's source image),

        L_i = 2 * tau * w_i * mean_t CE(z_t . targets^T / tau, y_t).

    The 2 tau factor keeps BYOL-like gradient sizes at the authors'
    tau = 1.0.

    Args:
        predictor (dict or nn.Module): One predictor; it is copied for each
            level. Takes and returns a 1-tuple of (T, D) tensors, like
            mmpretrain's ``NonLinearNeck``.
        level_weights (Sequence[float]): w_i of each level. Defaults to
            (0.5, 0.25, 0.125, 0.125), the authors' values for ratios
            1, 2, 4, 8.
        temperature (float): tau. Defaults to 1.0 (the authors').
        init_cfg (dict or list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 predictor: Union[dict, nn.Module],
                 level_weights: Sequence[float] = (0.5, 0.25, 0.125, 0.125),
                 temperature: float = 1.0,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg)
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if not level_weights or any(w < 0 for w in level_weights):
            raise ValueError('level_weights must be non-negative, one per '
                             f'level, got {level_weights}')
        self.level_weights = tuple(float(w) for w in level_weights)
        self.temperature = temperature
        self.predictors = nn.ModuleList(
            build_module(copy.deepcopy(predictor))
            for _ in self.level_weights)

    @property
    def num_levels(self) -> int:
        return len(self.level_weights)

    def loss(self, level: int, tiles: Tensor, targets: Tensor,
             labels: Tensor) -> LevelLoss:
        """Loss of the tiles of one level and branch.

        Args:
            level (int): Level index (selects predictor and weight).
            tiles (Tensor): Region embeddings of the tiles, shape (T, D).
            targets (Tensor): Unit-norm targets of the global batch, shape
                (B, D), no gradient.
            labels (Tensor): Row of ``targets`` of each tile's image, shape
                (T,), long.

        Returns:
            LevelLoss: Weighted loss and cosine diagnostics.
        """
        pred = F.normalize(self.predictors[level]((tiles, ))[0], dim=1)
        cos = pred @ targets.t()  # T, B
        tau = self.temperature
        loss = F.cross_entropy(cos / tau, labels) * (
            2 * tau * self.level_weights[level])
        with torch.no_grad():
            pos = cos.gather(1, labels[:, None])
            neg_cos = (cos.sum() - pos.sum()) / (cos.numel() - pos.numel())
        return LevelLoss(loss, pos.mean(), neg_cos)
