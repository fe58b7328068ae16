"""Reshape feature maps to one row per grid cell and back, and check that
features and labels belong together."""
from torch import Tensor

__all__ = ['to_cells', 'to_grid', 'check_pair']


def to_cells(feats: Tensor) -> Tensor:
    """Flatten feature maps to one row per cell.

    Args:
        feats (Tensor): Feature maps, shape (N, C, h, w).

    Returns:
        Tensor: Rows in (image, row, column) order, shape (N * h * w, C).
    """
    return feats.permute(0, 2, 3, 1).flatten(0, 2)


def to_grid(rows: Tensor, like: Tensor) -> Tensor:
    """Put per-cell rows back on the grid of ``like``.

    Args:
        rows (Tensor): One row per cell, as :func:`to_cells` orders them,
            shape (N * h * w, K).
        like (Tensor): Feature maps that give the grid, shape (N, C, h, w).

    Returns:
        Tensor: Shape (N, K, h, w).
    """
    n, _, h, w = like.shape
    return rows.view(n, h, w, -1).permute(0, 3, 1, 2)


def check_pair(feats: Tensor, labels: Tensor, name: str) -> None:
    """Check that features and label maps describe the same images.

    Args:
        feats (Tensor): Features, shape (N, C, h, w).
        labels (Tensor): Label maps, shape (N, H, W).
        name (str): Caller named in the error message.

    Raises:
        ValueError: If a shape is wrong or the numbers of images differ.
    """
    if feats.dim() != 4 or labels.dim() != 3 or len(feats) != len(labels):
        raise ValueError(
            f'{name}: expected features (N, C, h, w) and labels (N, H, W) '
            f'with the same N, got {tuple(feats.shape)} and '
            f'{tuple(labels.shape)}')
