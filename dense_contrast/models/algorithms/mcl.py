"""MCL: montages of downscaled views, contrasted level by level against
full-view targets."""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from dense_contrast.registry import MODELS
from ..utils import build_module, build_parts, gather_batch
from ..utils.montage import (MontageBuilder, MontageGeometryError, Montages,
                             level_name, split_windows)


class Branch(NamedTuple):
    """The montage levels of one branch, stacked into one batch.

    Attributes:
        images (Tensor): Level-0 views then the canvases of each level,
            shape (sum_i M_i, 3, H, W).
        sources (list[Tensor]): Per level, the batch index of each tile's
            view, shape (T_i,).
        starts (list[int]): Per level, the first row of its canvases in
            ``images`` (plus a final entry: the total).
    """
    images: Tensor
    sources: List[Tensor]
    starts: List[int]


def cosine_momentum(base_momentum: float, step: int, max_steps: int) -> float:
    """BYOL's cosine schedule of the target momentum,
    ``m = 1 - (1 - m0) * (cos(pi * step / max_steps) + 1) / 2``: m0 at step
    0, 1 at ``max_steps``."""
    return 1 - (1 - base_momentum) * (math.cos(math.pi * step / max_steps) +
                                      1) / 2


@MODELS.register_module()
class MCL(BaseSelfSupervisor):
    """`Multi-Level Contrastive Learning for Dense Prediction Task
    <https://arxiv.org/abs/2304.02010>`_.

    Follows the authors' code (https://github.com/GuoQiushan/MCL). Two
    branches ("q" and "k") each take one view batch per level, e.g. views
    0-3 (augmentation A) and 4-7 (augmentation B). :class:`MontageBuilder`
    tiles level i's views 1/r_i-downscaled into grids; the online encoder
    (``backbone`` -> FPN ``neck`` -> ``region_neck`` on exact windows of the
    FPN map of stride 32 / r_i) embeds every tile, and ``head``
    (:class:`MultiLevelContrastHead`) contrasts each tile, through level
    i's predictor, against the *other* branch's full-view targets of the
    whole global batch: the positive is its source image's target, the
    negatives all other images. Targets are the P5 region embeddings of
    the level-0 views by the target encoder, a cosine-momentum EMA of
    backbone + FPN + region neck (mmpretrain's :class:`CosineEMA`).

    Losses are logged per FPN level (``loss_p5`` ... ``loss_p2``, each the
    sum of both branches), with ``pos_cos_*`` / ``neg_cos_*`` (mean over
    the branches) and the current ``momentum``.

    Choices where the code or paper leaves room (config options):

    - ``head_on_used_windows``: the authors run the region head on every
      window of every FPN level of every canvas and keep the windows that
      are used; True evaluates only the used ones (the same embeddings
      with BN in eval mode, different BN batch statistics in training,
      much cheaper). Defaults to False (the authors').
    - ``fpn_on_used_levels``: the authors compute every FPN level of every
      canvas; True computes, for each montage level, only the FPN map its
      windows are read from, on its own canvases (the laterals above that
      map, the top-down sum, one output convolution): the same maps with
      BN in eval mode, other BN batch statistics in training. Most of the
      FPN's cost is the finest map of every canvas, and only the level-3
      canvases read it. Needs ``head_on_used_windows`` and mmdet's plain
      ``FPN`` (no extra levels). Defaults to False (the authors').
    - ``target_full_views_only``: the authors' target encoder sees all
      canvases and keeps the P5 of the level-0 views; True feeds it only
      the level-0 views (cheaper; changes its BN batch statistics).
      Defaults to False. In both cases only the target's P5 path of the FPN
      is computed (P5 of mmdet's FPN does not depend on the finer levels).
    - The EMA update runs at the start of each step (mmpretrain's BYOL),
      the authors' hook after it: the same weights, with the schedule
      index shifted by one step. Target BN buffers follow the online ones
      (mmengine EMA); they are unused in training (BN in train mode).

    Args:
        backbone (dict or nn.Module): ResNet with ``out_indices=(0, 1, 2,
            3)``.
        neck (dict or nn.Module): FPN, e.g. ``mmdet.FPN`` with BN, whose
            outputs have strides ``fpn_strides``.
        region_neck (dict or nn.Module): :class:`RegionEmbeddingNeck`.
        head (dict or nn.Module): :class:`MultiLevelContrastHead`.
        montage (dict or MontageBuilder): Montage geometry and counts.
            Defaults to the authors' ``dict(type='MontageBuilder')``.
        view_indices (Sequence[Sequence[int]]): For each branch, the view
            of each level. Defaults to ((0, 1, 2, 3), (4, 5, 6, 7)).
        fpn_strides (Sequence[int]): Stride of each FPN output. Defaults
            to (4, 8, 16, 32).
        base_momentum (float): Target momentum m0 at step 0 (BYOL's
            convention: weight of the old target), rising to 1 on a cosine
            over the run. Defaults to 0.99 (the authors').
        head_on_used_windows (bool): See above. Defaults to False.
        fpn_on_used_levels (bool): See above. Defaults to False.
        target_full_views_only (bool): See above. Defaults to False.
        data_preprocessor (dict or nn.Module, optional): Preprocessor.
            Defaults to None (``SelfSupDataPreprocessor``).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 neck: Union[dict, nn.Module],
                 region_neck: Union[dict, nn.Module],
                 head: Union[dict, nn.Module],
                 montage: Union[dict, MontageBuilder] = dict(
                     type='MontageBuilder'),
                 view_indices: Sequence[Sequence[int]] = ((0, 1, 2, 3),
                                                          (4, 5, 6, 7)),
                 fpn_strides: Sequence[int] = (4, 8, 16, 32),
                 base_momentum: float = 0.99,
                 head_on_used_windows: bool = False,
                 fpn_on_used_levels: bool = False,
                 target_full_views_only: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if not 0.0 < base_momentum < 1.0:
            # 0 would make the EMA's update weight 1 - m = 1, which
            # mmengine's averaged model rejects with a bare assertion.
            raise ValueError(
                f'base_momentum must be in (0, 1), got {base_momentum}')
        super().__init__(
            **build_parts(backbone, neck, head, data_preprocessor),
            init_cfg=init_cfg)
        self.region_neck = build_module(region_neck)
        self.montage = montage if isinstance(
            montage, MontageBuilder) else MODELS.build(montage)
        self.view_indices = tuple(tuple(v) for v in view_indices)
        self.fpn_strides = tuple(fpn_strides)
        num_levels = self.montage.num_levels
        if len(self.view_indices) != 2 or any(
                len(v) != num_levels for v in self.view_indices):
            raise ValueError(
                'view_indices must give two branches with one view per '
                f'level ({num_levels}), got {view_indices}')
        missing = set(self.montage.strides) - set(self.fpn_strides)
        if missing:
            raise MontageGeometryError(
                f'Montage levels read FPN strides {self.montage.strides} but '
                f'the FPN has {self.fpn_strides} (missing {sorted(missing)})')
        if self.montage.strides[0] != self.fpn_strides[-1]:
            raise MontageGeometryError(
                'The ratio-1 level must read the coarsest FPN level '
                f'(stride {self.fpn_strides[-1]}), got window_stride='
                f'{self.montage.window_stride}')
        if self.head.num_levels != num_levels:
            raise ValueError(
                f'head has {self.head.num_levels} level weights, the montage '
                f'{num_levels} levels')
        self.base_momentum = base_momentum
        if fpn_on_used_levels and not head_on_used_windows:
            raise ValueError(
                'fpn_on_used_levels=True computes each FPN level for its own '
                'canvases only, so the head cannot run on every window: set '
                'head_on_used_windows=True too')
        if fpn_on_used_levels and not _is_plain_fpn(self.neck,
                                                    len(self.fpn_strides)):
            raise ValueError(
                'fpn_on_used_levels=True needs mmdet FPN with start_level=0, '
                'no extra levels and one output per backbone map; got '
                f'{type(self.neck).__name__}')
        self.head_on_used_windows = head_on_used_windows
        self.fpn_on_used_levels = fpn_on_used_levels
        self.target_full_views_only = target_full_views_only
        # mmengine's EMA takes the weight of the new value: 1 - m.
        self.target = CosineEMA(
            self._online_encoder(), momentum=1 - base_momentum,
            end_momentum=0.0)

    def _online_encoder(self) -> nn.Sequential:
        return nn.Sequential(self.backbone, self.neck, self.region_neck)

    def current_momentum(self) -> float:
        """The momentum m of the latest target update (``base_momentum``
        before the first averaging step)."""
        step = int(self.target.steps) - 1
        if step < 1:
            return self.base_momentum
        return cosine_momentum(self.base_momentum, step, self._max_iters())

    @staticmethod
    def _max_iters() -> int:
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        if not max_iters:
            raise RuntimeError(
                "MCL's cosine momentum schedule needs the total number of "
                "iterations: run it under an mmengine Runner (which sets "
                "MessageHub info 'max_iters'), or set it with "
                "MessageHub.get_current_instance().update_info('max_iters', "
                'n).')
        return int(max_iters)

    def build_branch(self, views: Sequence[Tensor]) -> Branch:
        """Montage one branch's views, all levels in one batch.

        Args:
            views (Sequence[Tensor]): The view batch of each level, each of
                shape (N, 3, H, W).

        Returns:
            Branch: The stacked canvases and tile sources.
        """
        levels: List[Montages] = self.montage.build_all(views)
        starts = [0]
        for montages in levels:
            starts.append(starts[-1] + montages.images.shape[0])
        return Branch(
            torch.cat([m.images for m in levels]), [m.sources for m in levels],
            starts)

    def _fpn_index(self, level: int) -> int:
        return self.fpn_strides.index(self.montage.strides[level])

    def embed_tiles(self, branch: Branch) -> List[Tensor]:
        """Online region embeddings of every tile, level by level.

        Args:
            branch (Branch): Output of :meth:`build_branch`.

        Returns:
            list[Tensor]: Per level, shape (T_i, D), in tile order.
        """
        window = self.montage.window_size(*branch.images.shape[2:])
        backbone_feats = self.backbone(branch.images)
        if not self.fpn_on_used_levels:
            fpn = self.neck(backbone_feats)
        tiles = []
        for level in range(self.montage.num_levels):
            start, end = branch.starts[level], branch.starts[level + 1]
            if self.fpn_on_used_levels:
                feats = _fpn_level(
                    self.neck, [f[start:end] for f in backbone_feats],
                    self._fpn_index(level))
                tiles.append(self.region_neck(split_windows(feats, window)))
                continue
            feats = fpn[self._fpn_index(level)]
            if self.head_on_used_windows:
                tiles.append(
                    self.region_neck(split_windows(feats[start:end], window)))
            else:
                # The authors' composition: every window of every canvas at
                # this FPN level (BN statistics over all of them), then the
                # windows of this level's canvases.
                embeds = self.region_neck(split_windows(feats, window))
                embeds = embeds.view(feats.shape[0], -1, embeds.shape[-1])
                tiles.append(embeds[start:end].flatten(0, 1))
        return tiles

    @torch.no_grad()
    def embed_targets(self, branch: Branch) -> Tensor:
        """Target embeddings of the level-0 views of a branch, gathered over
        processes.

        Args:
            branch (Branch): Output of :meth:`build_branch`.

        Returns:
            Tensor: Unit-norm, shape (N * world_size, D), rows in rank order.
        """
        backbone, neck, region_neck = self.target.module
        num_views = branch.starts[1]
        images = branch.images[:num_views] if (
            self.target_full_views_only) else branch.images
        top = _top_fpn_level(neck, backbone(images))
        if self.head_on_used_windows:
            top = top[:num_views]
        # At the coarsest level a view is one window.
        embeds = region_neck(top)[:num_views]
        return gather_batch(F.normalize(embeds, dim=1))

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Losses of one step; updates the target encoder first.

        Args:
            inputs (list[Tensor]): Views, each of shape (N, 3, H, W); the
                branches pick theirs through ``view_indices``.
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss_p5`` ... (already weighted),
            ``pos_cos_*``, ``neg_cos_*`` and ``momentum``.
        """
        needed = max(max(v) for v in self.view_indices) + 1
        if not isinstance(inputs, (list, tuple)) or len(inputs) < needed:
            raise ValueError(
                f'MCL needs a list of at least {needed} view batches '
                f'(view_indices={self.view_indices}); got '
                f'{len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__}.'
                ' Use MultiView with that many views in the pipeline.')
        if int(self.target.steps) > 0:
            self._max_iters()  # fail clearly before CosineEMA reads it
        self.target.update_parameters(self._online_encoder())
        branches = [
            self.build_branch([inputs[v] for v in views])
            for views in self.view_indices
        ]
        targets = [self.embed_targets(b) for b in branches]
        offset = branches[0].starts[1] * get_rank()
        names = [level_name(s) for s in self.montage.strides]
        losses: Dict[str, Tensor] = {}
        for branch, other_targets in zip(branches, targets[::-1]):
            for level, tiles in enumerate(self.embed_tiles(branch)):
                out = self.head.loss(level, tiles, other_targets,
                                     branch.sources[level] + offset)
                for key, value in (('loss', out.loss),
                                   ('pos_cos', out.pos_cos / 2),
                                   ('neg_cos', out.neg_cos / 2)):
                    name = f'{key}_{names[level]}'
                    losses[name] = losses[name] + value if (
                        name in losses) else value
        losses['momentum'] = torch.tensor(
            self.current_momentum(), device=targets[0].device)
        return losses


def _is_plain_fpn(neck: nn.Module, num_feats: int) -> bool:
    """Whether ``neck`` is mmdet's ``FPN`` with one output per backbone map
    (start_level 0, no extra levels), whose public ``lateral_convs``,
    ``fpn_convs`` and ``upsample_cfg`` :func:`_fpn_level` recombines."""
    return (type(neck).__name__ == 'FPN' and hasattr(neck, 'lateral_convs')
            and neck.start_level == 0 and not neck.add_extra_convs
            and neck.backbone_end_level == num_feats
            and neck.num_outs == num_feats)


def _fpn_level(neck: nn.Module, feats: Sequence[Tensor], index: int) -> Tensor:
    """One output map of mmdet's plain ``FPN``, computing no finer level.

    Output ``index`` (finest first) needs the laterals of maps ``index``
    and above, their top-down sum and one output convolution; this is
    ``neck(feats)[index]`` without the rest, as mmdet's ``FPN.forward``
    builds it (nearest upsampling by ``upsample_cfg``). Mmdet has no
    public way to ask one level of an FPN, hence this recombination of its
    public submodules, checked against ``neck(feats)`` by the tests.

    Args:
        neck (nn.Module): mmdet ``FPN`` for which :func:`_is_plain_fpn`
            holds.
        feats (Sequence[Tensor]): Backbone maps, finest first, each of
            shape (B, C_i, H_i, W_i).
        index (int): Which output, 0 = finest.

    Returns:
        Tensor: The FPN map, shape (B, C, H_index, W_index).
    """
    lateral = neck.lateral_convs[-1](feats[-1])
    for i in range(len(feats) - 2, index - 1, -1):
        finer = neck.lateral_convs[i](feats[i])
        if 'scale_factor' in neck.upsample_cfg:
            up = F.interpolate(lateral, **neck.upsample_cfg)
        else:
            up = F.interpolate(
                lateral, size=finer.shape[2:], **neck.upsample_cfg)
        lateral = finer + up
    return neck.fpn_convs[index](lateral)


def _top_fpn_level(neck: nn.Module, feats: Tuple[Tensor, ...]) -> Tensor:
    """The coarsest output of an FPN.

    For mmdet's plain ``FPN``, P_top is
    ``fpn_convs[-1](lateral_convs[-1](C_top))`` (the top-down pathway only
    adds into finer levels), so the finer levels are skipped; any other
    neck runs in full.

    Args:
        neck (nn.Module): The FPN.
        feats (tuple[Tensor]): Backbone maps, finest first.

    Returns:
        Tensor: The coarsest FPN map, shape (B, C, h, w).
    """
    if _is_plain_fpn(neck, len(feats)):
        return _fpn_level(neck, feats, len(feats) - 1)
    return neck(feats)[-1]
