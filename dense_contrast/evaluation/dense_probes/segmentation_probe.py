"""What the linear and the k-NN probe share: fit on one labelled split,
predict class scores on the feature grid of another, score them at label
resolution."""
from typing import Dict

import torch
from torch import Tensor

from .cells import check_pair, to_cells
from .metrics import (label_proportions, miou_from_confusion,
                      segmentation_confusion)

__all__ = ['SegmentationProbe']


class SegmentationProbe:
    """Base of the dense probes scored by mIoU against semantic labels.

    A subclass implements :meth:`predict`; calling the probe checks the
    evaluation pair, predicts and scores the prediction
    (:meth:`score`). Fitting targets come from :meth:`cell_proportions`
    (see :mod:`dense_contrast.evaluation.dense_probes` for the resolution
    rule).

    Args:
        num_classes (int): Number of classes K (background included).
        ignore_index (int): Label of unlabelled pixels.
        prefix (str): Prefix of the result keys.

    Raises:
        ValueError: If ``num_classes`` is below 2.
    """

    def __init__(self, num_classes: int, ignore_index: int,
                 prefix: str) -> None:
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.prefix = prefix

    def cell_proportions(self, feats: Tensor, labels: Tensor) -> Tensor:
        """Class proportions of the labels on the grid of the features, one
        row per cell (:func:`label_proportions`, :func:`to_cells`).

        Args:
            feats (Tensor): Features that give the grid, shape
                (N, C, h, w).
            labels (Tensor): Label maps, shape (N, H, W).

        Returns:
            Tensor: Shape (N * h * w, K); a row sums to the cell's labelled
            fraction.
        """
        return to_cells(
            label_proportions(labels, feats.shape[-2:], self.num_classes,
                              self.ignore_index))

    def predict(self, train_feats: Tensor, train_labels: Tensor,
                val_feats: Tensor) -> Tensor:
        """Class scores of the evaluation features, fitted on the others.

        Args:
            train_feats (Tensor): Shape (N1, C, h, w).
            train_labels (Tensor): Shape (N1, H, W).
            val_feats (Tensor): Shape (N2, C, h', w').

        Returns:
            Tensor: Scores on the grid of ``val_feats``, shape
            (N2, K, h', w'); any monotone scale.
        """
        raise NotImplementedError

    def score(self, scores: Tensor, labels: Tensor) -> Dict[str, float]:
        """mIoU and pixel accuracy of class scores, at label resolution.

        Args:
            scores (Tensor): Shape (N, K, h, w).
            labels (Tensor): Shape (N, H, W).

        Returns:
            dict[str, float]: ``{prefix}_mIoU`` and ``{prefix}_aAcc`` in
            percent.
        """
        result = miou_from_confusion(
            segmentation_confusion(scores, labels, self.num_classes,
                                   self.ignore_index))
        return {
            f'{self.prefix}_mIoU': result['mIoU'],
            f'{self.prefix}_aAcc': result['aAcc']
        }

    @torch.no_grad()
    def __call__(self, train_feats: Tensor, train_labels: Tensor,
                 val_feats: Tensor, val_labels: Tensor) -> Dict[str, float]:
        """Fit on one split, score on the other.

        Args:
            train_feats (Tensor): Shape (N1, C, h, w).
            train_labels (Tensor): Shape (N1, H, W).
            val_feats (Tensor): Shape (N2, C, h', w').
            val_labels (Tensor): Shape (N2, H', W').

        Returns:
            dict[str, float]: ``{prefix}_mIoU`` and ``{prefix}_aAcc`` in
            percent.
        """
        check_pair(val_feats, val_labels, type(self).__name__)
        return self.score(
            self.predict(train_feats, train_labels, val_feats), val_labels)
