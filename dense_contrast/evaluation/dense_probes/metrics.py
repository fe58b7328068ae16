"""Score dense predictions: resample label maps to a feature grid as class
proportions, count a confusion matrix at label resolution, and read mIoU
and pixel accuracy from it."""
from typing import Dict, List, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'label_proportions', 'segmentation_confusion', 'miou_from_confusion'
]


def label_proportions(labels: Tensor,
                      grid: Tuple[int, int],
                      num_classes: int,
                      ignore_index: int = 255) -> Tensor:
    """Downsample label maps to a feature grid as class proportions.

    Cell ``(i, j)`` of the grid covers the pixels that adaptive average
    pooling assigns to it; its value for class ``k`` is the fraction of
    those pixels labelled ``k``. Pixels labelled ``ignore_index`` count in
    no class, so the proportions of a cell sum to its labelled fraction
    (1 when no pixel is ignored, 0 when all are).

    Args:
        labels (Tensor): Integer label maps, shape (N, H, W); values in
            ``[0, num_classes)`` or ``ignore_index``.
        grid (tuple[int, int]): Target size (h, w).
        num_classes (int): Number of classes K.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.

    Returns:
        Tensor: Proportions, shape (N, K, h, w), float32.

    Raises:
        ValueError: If a label is neither a class nor ``ignore_index``.
    """
    _check_labels(labels, num_classes, ignore_index)
    valid = labels != ignore_index
    one_hot = F.one_hot(
        torch.where(valid, labels, 0).long(), num_classes).permute(0, 3, 1, 2)
    one_hot = one_hot.float() * valid.unsqueeze(1)
    return F.adaptive_avg_pool2d(one_hot, grid)


def _check_labels(labels: Tensor, num_classes: int, ignore_index: int) -> None:
    if labels.dim() != 3:
        raise ValueError('labels must have shape (N, H, W), got '
                         f'{tuple(labels.shape)}')
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f'labels hold {labels[bad].unique().tolist()}, outside the '
            f'classes [0, {num_classes}) and ignore_index={ignore_index}')


def segmentation_confusion(scores: Tensor,
                           labels: Tensor,
                           num_classes: int,
                           ignore_index: int = 255,
                           chunk_images: int = 16) -> Tensor:
    """Confusion matrix of upsampled class scores against label maps.

    Scores are upsampled bilinearly to the label resolution
    (``align_corners=False``) and the argmax is taken per pixel; images are
    processed in chunks to bound memory.

    Args:
        scores (Tensor): Class scores, shape (N, K, h, w); any monotone
            scale (logits, probabilities, votes).
        labels (Tensor): Label maps, shape (N, H, W).
        num_classes (int): Number of classes K.
        ignore_index (int): Label of pixels left out. Defaults to 255.
        chunk_images (int): Images upsampled at once. Defaults to 16.

    Returns:
        Tensor: ``conf[t, p]`` = number of pixels of class ``t`` predicted
        as ``p``, shape (K, K), int64.
    """
    if scores.shape[0] != labels.shape[0] or scores.shape[1] != num_classes:
        raise ValueError(
            f'scores of shape {tuple(scores.shape)} do not fit labels of '
            f'shape {tuple(labels.shape)} and {num_classes} classes')
    _check_labels(labels, num_classes, ignore_index)
    conf = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    for start in range(0, scores.shape[0], chunk_images):
        chunk = scores[start:start + chunk_images].float()
        target = labels[start:start + chunk_images]
        if chunk.shape[-2:] != target.shape[-2:]:
            chunk = F.interpolate(
                chunk,
                size=target.shape[-2:],
                mode='bilinear',
                align_corners=False)
        pred = chunk.argmax(dim=1)
        valid = target != ignore_index
        conf += torch.bincount(
            target[valid].long() * num_classes + pred[valid],
            minlength=num_classes * num_classes)
    return conf.view(num_classes, num_classes)


def miou_from_confusion(conf: Tensor) -> Dict[str, Union[float, List]]:
    """mIoU, per-class IoU and pixel accuracy of a confusion matrix.

    Args:
        conf (Tensor): Confusion matrix, shape (K, K), rows = labels.

    Returns:
        dict: ``mIoU`` and ``aAcc`` in percent (floats; NaN when no pixel
        is labelled), ``IoU``: per-class IoU in percent (NaN for a class
        absent from labels and predictions).
    """
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1),
                      torch.full_like(tp, float('nan')))
    present = ~iou.isnan()
    miou = iou[present].mean().item() if present.any() else float('nan')
    total = conf.sum().item()
    aacc = tp.sum().item() / total if total > 0 else float('nan')
    return dict(
        mIoU=100.0 * miou,
        aAcc=100.0 * aacc,
        IoU=[100.0 * v for v in iou.tolist()])
