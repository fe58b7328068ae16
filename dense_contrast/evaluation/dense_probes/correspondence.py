"""Dense correspondence probe: does a backbone find the same scene point in
two views of an image?

For each image two views are cut with known geometry (a crop box each,
resized to one view size, the second optionally mirrored and, with
``photometric=True``, recoloured). Every location of view 1's feature grid
whose scene point lies inside view 2 is matched to its most similar
location of view 2 (cosine similarity of the backbone features); it counts
as correct when the match lies within ``tolerance`` cells (Chebyshev
distance on view 2's grid) of the cell that holds the true point. The score
is the fraction of correct matches, in percent, over all such locations of
all pairs. Chance level for a grid of h x w cells is about
``(2 * tolerance + 1) ** 2 / (h * w)``; the probe reports it too.

Shape letters: P view pairs, C channels, h x w a feature grid.
"""
import math
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dense_contrast.registry import METRICS

from .features import extract_dense_features

__all__ = [
    'ViewPairs', 'sample_view_pairs', 'crop_views', 'true_cells',
    'correspondence_accuracy', 'recolour', 'DenseCorrespondenceProbe'
]


class ViewPairs(NamedTuple):
    """Geometry of P view pairs, in coordinates normalised by the image
    side (0 = left/top edge, 1 = right/bottom edge).

    Attributes:
        box1 (Tensor): Crop of view 1, ``(x0, y0, x1, y1)``. Shape (P, 4).
        box2 (Tensor): Crop of view 2. Shape (P, 4).
        flip2 (Tensor): Whether view 2 is mirrored left-right. Shape (P,),
            bool.
    """
    box1: Tensor
    box2: Tensor
    flip2: Tensor


def sample_view_pairs(num_pairs: int,
                      seed: int,
                      area_range: Tuple[float, float] = (0.3, 1.0),
                      ratio_range: Tuple[float, float] = (3 / 4, 4 / 3),
                      min_overlap: float = 0.4,
                      flip_prob: float = 0.5) -> ViewPairs:
    """Draw crop boxes for view pairs, seeded.

    Each box covers a fraction of the image area in ``area_range`` with an
    aspect ratio in ``ratio_range`` (log-uniform), placed uniformly; view 2
    is redrawn until the overlap covers at least ``min_overlap`` of view 1.

    Args:
        num_pairs (int): Number of pairs P.
        seed (int): Seed of the draw.
        area_range (tuple[float, float]): Box area fraction. Defaults to
            (0.3, 1.0).
        ratio_range (tuple[float, float]): Box aspect ratio (width /
            height). Defaults to (3/4, 4/3).
        min_overlap (float): Least fraction of view 1 that view 2 covers.
            Defaults to 0.4.
        flip_prob (float): Probability that view 2 is mirrored. Defaults
            to 0.5.

    Returns:
        ViewPairs: The geometry.
    """
    if num_pairs < 1:
        raise ValueError(f'num_pairs must be >= 1, got {num_pairs}')
    if not 0 < area_range[0] <= area_range[1] <= 1:
        raise ValueError(f'area_range must satisfy 0 < lo <= hi <= 1, got '
                         f'{area_range}')
    rng = np.random.default_rng(seed)

    def box() -> np.ndarray:
        area = rng.uniform(*area_range)
        ratio = math.exp(rng.uniform(*np.log(ratio_range)))
        w = min(1.0, math.sqrt(area * ratio))
        h = min(1.0, math.sqrt(area / ratio))
        x0, y0 = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        return np.array([x0, y0, x0 + w, y0 + h])

    def overlap(a: np.ndarray, b: np.ndarray) -> float:
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        return w * h / ((a[2] - a[0]) * (a[3] - a[1]))

    boxes1, boxes2 = [], []
    for _ in range(num_pairs):
        b1 = box()
        for _ in range(1000):
            b2 = box()
            if overlap(b1, b2) >= min_overlap:
                break
        else:
            raise ValueError(f'could not draw view 2 with min_overlap='
                             f'{min_overlap} in 1000 tries')
        boxes1.append(b1)
        boxes2.append(b2)
    flips = rng.random(num_pairs) < flip_prob
    return ViewPairs(
        torch.tensor(np.stack(boxes1), dtype=torch.float32),
        torch.tensor(np.stack(boxes2), dtype=torch.float32),
        torch.from_numpy(flips))


def crop_views(images: Tensor,
               boxes: Tensor,
               size: int,
               flip: Optional[Tensor] = None,
               mode: str = 'bilinear') -> Tensor:
    """Cut boxes out of images and resize them.

    Args:
        images (Tensor): Float images, shape (P, 3, H, W).
        boxes (Tensor): Normalised ``(x0, y0, x1, y1)``, shape (P, 4).
        size (int): Side of the square views.
        flip (Tensor, optional): Mirror view p left-right where
            ``flip[p]``. Shape (P,), bool. Defaults to None.
        mode (str): Sampling of :func:`torch.nn.functional.grid_sample`:
            'bilinear' for images, 'nearest' for label maps (given as
            float, shape (P, 1, H, W)). Defaults to 'bilinear'.

    Returns:
        Tensor: Views, shape (P, C, size, size) for C input channels.
    """
    n = images.shape[0]
    x0, y0, x1, y1 = boxes.unbind(1)
    # affine_grid maps output [-1, 1] to input [-1, 1] (align_corners=False).
    theta = torch.zeros(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0] = x1 - x0
    theta[:, 0, 2] = x0 + x1 - 1
    theta[:, 1, 1] = y1 - y0
    theta[:, 1, 2] = y0 + y1 - 1
    if flip is not None:
        theta[flip, 0, 0] *= -1
    grid = F.affine_grid(theta, (n, images.shape[1], size, size),
                         align_corners=False)
    return F.grid_sample(images, grid, mode=mode,
                         padding_mode='border', align_corners=False)


def true_cells(pairs: ViewPairs, grid1: Tuple[int, int],
               grid2: Tuple[int, int]) -> Tuple[Tensor, Tensor, Tensor]:
    """Where the centre of each view-1 cell falls on view 2's grid.

    Args:
        pairs (ViewPairs): Geometry of P pairs.
        grid1 (tuple[int, int]): ``(h1, w1)`` of view 1's features.
        grid2 (tuple[int, int]): ``(h2, w2)`` of view 2's features.

    Returns:
        tuple[Tensor, Tensor, Tensor]: Row and column on view 2's grid,
        each of shape (P, h1 * w1), long, and whether the point lies inside
        view 2, shape (P, h1 * w1), bool.
    """
    h1, w1 = grid1
    h2, w2 = grid2
    ys = (torch.arange(h1, dtype=torch.float32) + 0.5) / h1
    xs = (torch.arange(w1, dtype=torch.float32) + 0.5) / w1
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    gx, gy = gx.reshape(1, -1), gy.reshape(1, -1)  # 1, h1 * w1
    b1, b2 = pairs.box1, pairs.box2
    # view-1 fraction -> image coordinate -> view-2 fraction
    img_x = b1[:, :1] + gx * (b1[:, 2:3] - b1[:, :1])
    img_y = b1[:, 1:2] + gy * (b1[:, 3:4] - b1[:, 1:2])
    u = (img_x - b2[:, :1]) / (b2[:, 2:3] - b2[:, :1])
    v = (img_y - b2[:, 1:2]) / (b2[:, 3:4] - b2[:, 1:2])
    u = torch.where(pairs.flip2[:, None], 1 - u, u)
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    col = (u * w2).floor().clamp(0, w2 - 1).long()
    row = (v * h2).floor().clamp(0, h2 - 1).long()
    return row, col, inside


def correspondence_accuracy(feats1: Tensor,
                            feats2: Tensor,
                            pairs: ViewPairs,
                            tolerance: int = 1) -> Dict[str, float]:
    """Score nearest-neighbour matching between the views of each pair.

    Args:
        feats1 (Tensor): Features of view 1, shape (P, C, h1, w1).
        feats2 (Tensor): Features of view 2, shape (P, C, h2, w2).
        pairs (ViewPairs): Geometry of the pairs.
        tolerance (int): Largest Chebyshev distance, in view-2 cells, of a
            correct match. Defaults to 1.

    Returns:
        dict[str, float]: ``corr_acc`` (percent correct), ``corr_chance``
        (percent expected of a uniformly random match) and
        ``corr_locations`` (locations scored).
    """
    if feats1.shape[:2] != feats2.shape[:2]:
        raise ValueError(f'feats1 {tuple(feats1.shape)} and feats2 '
                         f'{tuple(feats2.shape)} must share P and C')
    p, _, h1, w1 = feats1.shape
    h2, w2 = feats2.shape[-2:]
    if pairs.box1.shape[0] != p:
        raise ValueError(f'{pairs.box1.shape[0]} view pairs for {p} '
                         'feature pairs')
    row, col, inside = true_cells(pairs, (h1, w1), (h2, w2))
    q = F.normalize(feats1.float().flatten(2), dim=1)  # P, C, h1 w1
    k = F.normalize(feats2.float().flatten(2), dim=1)  # P, C, h2 w2
    best = torch.einsum('pcs,pct->pst', q, k).argmax(dim=2)  # P, h1 w1
    best_row, best_col = best // w2, best % w2
    dist = torch.maximum((best_row - row).abs(), (best_col - col).abs())
    correct = (dist <= tolerance) & inside
    num = int(inside.sum())
    if num == 0:
        raise ValueError('no view-1 location falls inside view 2')
    # Chance: the expected share of view 2's cells within the tolerance of
    # the true cell (fewer at the border).
    rows = torch.arange(h2)
    cols = torch.arange(w2)
    near_r = ((rows[None, None] - row[..., None]).abs() <= tolerance).sum(-1)
    near_c = ((cols[None, None] - col[..., None]).abs() <= tolerance).sum(-1)
    chance = (near_r * near_c).float()[inside].mean() / (h2 * w2)
    return dict(
        corr_acc=100.0 * float(correct.sum()) / num,
        corr_chance=100.0 * float(chance),
        corr_locations=float(num))


def recolour(views: Tensor, seed: int) -> Tensor:
    """A seeded photometric change per view: channel order (a coarse hue
    change), then brightness, contrast and saturation factors in [0.6, 1.4].

    Args:
        views (Tensor): Float RGB views in [0, 255], shape (P, 3, S, S).
        seed (int): Seed of the draw.

    Returns:
        Tensor: Recoloured views, clipped to [0, 255], shape (P, 3, S, S).
    """
    gen = torch.Generator().manual_seed(seed)
    out = []
    for view in views:
        view = view[torch.randperm(3, generator=gen)]
        b, c, s = (0.6 + 0.8 * torch.rand(3, generator=gen)).tolist()
        view = view * b
        view = (view - view.mean()) * c + view.mean()
        grey = view.mean(dim=0, keepdim=True)
        view = (view - grey) * s + grey
        out.append(view.clamp(0, 255))
    return torch.stack(out)


@METRICS.register_module()
class DenseCorrespondenceProbe:
    """Dense correspondence probe on a frozen backbone (see the module
    docstring): the fraction of view-1 locations whose nearest neighbour in
    view 2, in backbone features, lies within ``tolerance`` cells of the
    true location.

    It needs images, not labels: :class:`DenseProbeSuite` calls it with the
    backbone and the images of its evaluation split.

    Args:
        num_pairs (int): View pairs P, cycling over the images. Defaults
            to 100.
        view_size (int, optional): Side of the views. Defaults to None (the
            image side).
        tolerance (int): Largest Chebyshev distance of a correct match, in
            cells. Defaults to 1.
        area_range (tuple[float, float]): Crop area as a fraction of the
            image. Defaults to (0.3, 1.0).
        min_overlap (float): Least fraction of view 1 that view 2 covers.
            Defaults to 0.4.
        flip_prob (float): Probability that view 2 is mirrored. Defaults
            to 0.5.
        photometric (bool): Also recolour view 2 (:func:`recolour`), so
            that matching must be invariant to colour. Defaults to False.
        seed (int): Seed of the geometry and recolouring; the same seed
            gives the same pairs for every backbone. Defaults to 0.
        prefix (str): Prefix of the result keys. Defaults to 'corr'.
    """

    #: Called with images, not with features and labels.
    needs_labels = False

    def __init__(self,
                 num_pairs: int = 100,
                 view_size: Optional[int] = None,
                 tolerance: int = 1,
                 area_range: Tuple[float, float] = (0.3, 1.0),
                 min_overlap: float = 0.4,
                 flip_prob: float = 0.5,
                 photometric: bool = False,
                 seed: int = 0,
                 prefix: str = 'corr') -> None:
        if tolerance < 0:
            raise ValueError(f'tolerance must be >= 0, got {tolerance}')
        if view_size is not None and view_size < 8:
            raise ValueError(f'view_size must be >= 8, got {view_size}')
        self.pairs = sample_view_pairs(num_pairs, seed, tuple(area_range),
                                       min_overlap=min_overlap,
                                       flip_prob=flip_prob)
        self.num_pairs = num_pairs
        self.view_size = view_size
        self.tolerance = tolerance
        self.photometric = photometric
        self.seed = seed
        self.prefix = prefix

    def views(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        """The two views of every pair.

        Args:
            images (Tensor): uint8 RGB images, shape (N, 3, H, W).

        Returns:
            tuple[Tensor, Tensor]: Views 1 and 2, float in [0, 255], shape
            (P, 3, V, V) each.
        """
        index = torch.arange(self.num_pairs) % images.shape[0]
        source = images[index].float()
        size = self.view_size or images.shape[-1]
        view1 = crop_views(source, self.pairs.box1, size)
        view2 = crop_views(source, self.pairs.box2, size, self.pairs.flip2)
        if self.photometric:
            view2 = recolour(view2, self.seed)
        return view1, view2

    def __call__(self,
                 backbone: nn.Module,
                 images: Tensor,
                 mean: Sequence[float],
                 std: Sequence[float],
                 stage: Optional[int] = None,
                 batch_size: int = 32) -> Dict[str, float]:
        """Score a backbone.

        Args:
            backbone (nn.Module): The frozen backbone (left unchanged).
            images (Tensor): uint8 images in the channel order the backbone
                expects, shape (N, 3, H, W).
            mean (Sequence[float]): Normalisation mean.
            std (Sequence[float]): Normalisation std.
            stage (int, optional): Backbone stage read. Defaults to None
                (the last output).
            batch_size (int): Views per forward. Defaults to 32.

        Returns:
            dict[str, float]: ``{prefix}_acc`` and ``{prefix}_chance`` in
            percent.
        """
        view1, view2 = self.views(images)
        extract = dict(mean=mean, std=std, stage=stage,
                       batch_size=batch_size)
        feats1 = extract_dense_features(backbone, view1, **extract)
        feats2 = extract_dense_features(backbone, view2, **extract)
        result = correspondence_accuracy(feats1, feats2, self.pairs,
                                         self.tolerance)
        return {
            f'{self.prefix}_acc': result['corr_acc'],
            f'{self.prefix}_chance': result['corr_chance']
        }
