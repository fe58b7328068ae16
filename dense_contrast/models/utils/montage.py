"""Montages of MCL: downscaled views tiled on a grid whose cells line up
exactly with windows of an FPN level.

A view of H x W px (H and W multiples of ``window_stride``, 32 for a
ResNet) seen at ratio r is shrunk to (H / r) x (W / r) and tiled r x r
times into a canvas of the original size. At FPN stride ``window_stride /
r`` every tile covers exactly one window of (H / window_stride) x
(W / window_stride) cells (7 x 7 for 224 px views), so the tile embeddings
are a reshape of the feature map: no RoIAlign, no resampling.

Shapes: N views per process, M montages of one level, r the ratio of that
level, T = M * r * r tiles, C channels, h x w the window size.
"""
import math
from typing import List, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from dense_contrast.registry import MODELS


class MontageGeometryError(ValueError):
    """Views, ratios, strides or montage counts that do not tile exactly."""


class Montages(NamedTuple):
    """The canvases of one montage level.

    Attributes:
        images (Tensor): Canvases, shape (M, 3, H, W). At ratio 1 these are
            the views themselves, in batch order.
        sources (Tensor): Index in the batch of the view each tile shows,
            shape (T,), long, in tile order (montage, row, col): tile ``t``
            of montage ``t // r**2`` sits at row ``(t % r**2) // r`` and
            column ``t % r``.
    """
    images: Tensor
    sources: Tensor


def split_windows(feats: Tensor, window: Tuple[int, int]) -> Tensor:
    """Cut feature maps into non-overlapping windows by a reshape.

    Args:
        feats (Tensor): Maps of shape (B, C, g_h * h, g_w * w).
        window (tuple[int, int]): Window size (h, w).

    Returns:
        Tensor: Windows of shape (B * g_h * g_w, C, h, w), ordered (b, row,
        col): ``out[(b * g_h + i) * g_w + j] = feats[b, :, i*h:(i+1)*h,
        j*w:(j+1)*w]``.

    Raises:
        MontageGeometryError: If the map is not a whole number of windows.
    """
    batch, channels, height, width = feats.shape
    win_h, win_w = window
    if height % win_h or width % win_w:
        raise MontageGeometryError(
            f'A {height}x{width} feature map does not split into whole '
            f'{win_h}x{win_w} windows.')
    grid_h, grid_w = height // win_h, width // win_w
    windows = feats.reshape(batch, channels, grid_h, win_h, grid_w, win_w)
    return windows.permute(0, 2, 4, 1, 3, 5).reshape(-1, channels, win_h,
                                                     win_w)


@MODELS.register_module()
class MontageBuilder:
    """Builds MCL's montage levels from a batch of views (a batch-level
    step: a montage mixes several images, so it cannot be a per-image
    transform).

    Level 0 (ratio 1) is the views themselves, in order: their embeddings
    at the top FPN level are also the targets. Level i > 0 shrinks the
    views by ``ratios[i]`` and fills ``num_montages[i]`` canvases; tile
    sources are a random permutation of ``num_montages[i] * r**2`` taken
    modulo N, so every view appears ``floor`` or ``ceil`` of
    ``num_montages[i] * r**2 / N`` times (the authors' sampling).

    Follows the authors' code (https://github.com/GuoQiushan/MCL,
    ``random_combine_img``); the interpolation mode is an option (their
    ``F.interpolate`` default is nearest).

    Args:
        ratios (Sequence[int]): Downscale ratio r of each level: powers of
            two, increasing, starting with 1, each dividing
            ``window_stride``. Defaults to (1, 2, 4, 8).
        num_montages (Sequence[int]): Canvases per process of each level.
            Entry 0 must equal the views per process N (level 0 is the
            views). Defaults to (128, 32, 8, 4), the authors' per-GPU counts
            for 128 images.
        window_stride (int): Stride of the FPN level read at ratio 1 (P5
            of a ResNet: 32). Level i is read at ``window_stride / r_i``.
            Defaults to 32.
        interpolation (str): 'nearest' (the authors') or 'bilinear'
            (antialiased). Defaults to 'nearest'.
    """

    def __init__(self,
                 ratios: Sequence[int] = (1, 2, 4, 8),
                 num_montages: Sequence[int] = (128, 32, 8, 4),
                 window_stride: int = 32,
                 interpolation: str = 'nearest') -> None:
        ratios, num_montages = tuple(ratios), tuple(num_montages)
        if not ratios or ratios[0] != 1:
            raise MontageGeometryError(
                f'ratios must start with 1 (the full views), got {ratios}')
        if any(r <= 0 or r & (r - 1) for r in ratios) or any(
                b <= a for a, b in zip(ratios, ratios[1:])):
            raise MontageGeometryError(
                f'ratios must be increasing powers of two, got {ratios}')
        if any(window_stride % r for r in ratios):
            raise MontageGeometryError(
                f'every ratio must divide window_stride={window_stride} '
                f'(level i is read at stride window_stride / r_i), got '
                f'ratios {ratios}')
        if len(num_montages) != len(ratios) or any(
                not isinstance(m, int) or m < 1 for m in num_montages):
            raise MontageGeometryError(
                f'num_montages must give one positive int per ratio '
                f'{ratios}, got {num_montages}')
        if interpolation not in ('nearest', 'bilinear'):
            raise ValueError("interpolation must be 'nearest' or "
                             f"'bilinear', got {interpolation!r}")
        self.ratios = ratios
        self.num_montages = num_montages
        self.window_stride = window_stride
        self.interpolation = interpolation

    @property
    def num_levels(self) -> int:
        return len(self.ratios)

    @property
    def strides(self) -> Tuple[int, ...]:
        """FPN stride read at each level: ``window_stride / r``."""
        return tuple(self.window_stride // r for r in self.ratios)

    def num_tiles(self, level: int) -> int:
        """Tiles of one level per process: ``num_montages * r**2``."""
        return self.num_montages[level] * self.ratios[level]**2

    def window_size(self, height: int, width: int) -> Tuple[int, int]:
        """Window (h, w) in feature cells for views of ``height`` x
        ``width`` px, after checking that they tile exactly.

        Raises:
            MontageGeometryError: If a side is not a multiple of
                ``window_stride``.
        """
        if height % self.window_stride or width % self.window_stride:
            raise MontageGeometryError(
                f'Views of {height}x{width} px do not tile exactly: height '
                f'and width must be multiples of window_stride='
                f'{self.window_stride}, so that each 1/r tile covers whole '
                f'windows at stride {self.window_stride}/r (e.g. 224 = 7 x '
                '32 gives 7x7 windows).')
        return height // self.window_stride, width // self.window_stride

    def check_batch(self, views: Tensor) -> None:
        """Check a view batch against the geometry and montage counts.

        Args:
            views (Tensor): Shape (N, 3, H, W).

        Raises:
            MontageGeometryError: On a size that does not tile or
                ``num_montages[0] != N``.
        """
        if views.dim() != 4:
            raise MontageGeometryError(
                f'Expected views of shape (N, 3, H, W), got {tuple(views.shape)}')
        self.window_size(views.shape[2], views.shape[3])
        if self.num_montages[0] != views.shape[0]:
            raise MontageGeometryError(
                f'num_montages[0]={self.num_montages[0]} must equal the '
                f'views per process ({views.shape[0]}): level 0 is the '
                'views themselves. Set model.montage.num_montages to match '
                'train_dataloader.batch_size.')

    @torch.no_grad()
    def __call__(self, views: Tensor, level: int) -> Montages:
        """Build the canvases of one level.

        Args:
            views (Tensor): Views of shape (N, 3, H, W).
            level (int): Level index into ``ratios``.

        Returns:
            Montages: Canvases (M, 3, H, W) and tile sources (T,).
        """
        self.check_batch(views)
        num_views, channels, height, width = views.shape
        ratio = self.ratios[level]
        if ratio == 1:
            return Montages(
                views, torch.arange(num_views, device=views.device))
        num = self.num_montages[level]
        small = F.interpolate(
            views,
            size=(height // ratio, width // ratio),
            mode=self.interpolation,
            **({} if self.interpolation == 'nearest' else dict(
                align_corners=False, antialias=True)))
        sources = torch.randperm(
            num * ratio * ratio, device=views.device) % num_views
        tiles = small[sources].reshape(num, ratio, ratio, channels,
                                       height // ratio, width // ratio)
        images = tiles.permute(0, 3, 1, 4, 2, 5).reshape(
            num, channels, height, width)
        return Montages(images, sources)

    def build_all(self, views: Sequence[Tensor]) -> List[Montages]:
        """Build every level, level i from ``views[i]``.

        Args:
            views (Sequence[Tensor]): One view batch per level (the same
                tensor may repeat), each of shape (N, 3, H, W).

        Returns:
            list[Montages]: One entry per level.
        """
        if len(views) != self.num_levels:
            raise MontageGeometryError(
                f'Expected one view batch per level ({self.num_levels}), got '
                f'{len(views)}')
        return [self(v, level) for level, v in enumerate(views)]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ratios={self.ratios}, num_montages='
                f'{self.num_montages}, window_stride={self.window_stride}, '
                f'interpolation={self.interpolation!r})')


def level_name(stride: int) -> str:
    """FPN name of a stride: 4 -> 'p2', 32 -> 'p5'."""
    return f'p{int(math.log2(stride))}'
