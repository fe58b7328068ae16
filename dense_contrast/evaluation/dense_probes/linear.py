"""The dense linear probe: a 1x1 convolution fitted on frozen features."""
import torch
from torch import Tensor, nn

from dense_contrast.registry import METRICS

from .cells import check_pair, to_cells
from .segmentation_probe import SegmentationProbe

__all__ = ['DenseLinearProbe']


@METRICS.register_module()
class DenseLinearProbe(SegmentationProbe):
    """Linear probe on a frozen dense feature map: a 1x1 convolution.

    Fitting (full batch, so the result depends on the data only: zero
    initial weights, no sampling): the channels are standardised with the
    mean and standard deviation of the fitting cells (a frozen BatchNorm,
    so that backbones whose features differ in scale are probed alike),
    then ``steps`` Adam steps minimise the cross-entropy between the
    per-cell class scores and the cells' class proportions (see
    :mod:`dense_contrast.evaluation.dense_probes`), each cell weighted by
    its labelled fraction. The scores of the evaluation split are upsampled
    to its label resolution for the mIoU.

    Args:
        num_classes (int): Number of classes K (background included).
        steps (int): Optimiser steps. Defaults to 100.
        lr (float): Adam learning rate. Defaults to 0.1.
        weight_decay (float): L2 penalty on the weights (not the bias).
            Defaults to 1e-4.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        prefix (str): Prefix of the result keys. Defaults to 'linear'.
    """

    def __init__(self,
                 num_classes: int,
                 steps: int = 100,
                 lr: float = 0.1,
                 weight_decay: float = 1e-4,
                 ignore_index: int = 255,
                 prefix: str = 'linear') -> None:
        super().__init__(num_classes, ignore_index, prefix)
        if steps < 1 or lr <= 0 or weight_decay < 0:
            raise ValueError('DenseLinearProbe needs steps >= 1, lr > 0 and '
                             f'weight_decay >= 0; got steps={steps}, lr={lr},'
                             f' weight_decay={weight_decay}')
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay

    def fit(self, feats: Tensor, labels: Tensor) -> nn.Conv2d:
        """Fit the classifier.

        Args:
            feats (Tensor): Features, shape (N, C, h, w).
            labels (Tensor): Labels, shape (N, H, W).

        Returns:
            nn.Conv2d: A 1x1 convolution C -> K with the standardisation
            folded in, to apply to raw features.
        """
        check_pair(feats, labels, 'DenseLinearProbe.fit')
        target = self.cell_proportions(feats, labels)  # (M, K)
        mass = target.sum(1)  # labelled fraction of each cell
        keep = mass > 0
        x = to_cells(feats.float())[keep]
        target, mass = target[keep], mass[keep]
        if len(x) == 0:
            raise ValueError('DenseLinearProbe.fit: every pixel is ignored')
        mean = x.mean(0)
        std = x.std(0, unbiased=False).clamp(min=1e-6)
        x = (x - mean) / std

        weight = torch.zeros(self.num_classes, x.shape[1], requires_grad=True)
        bias = torch.zeros(self.num_classes, requires_grad=True)
        optimizer = torch.optim.Adam([weight, bias], lr=self.lr)
        # Soft targets normalised per cell; the cell's labelled fraction
        # becomes its weight in the mean.
        soft = target / mass[:, None]
        cell_weight = mass / mass.sum()
        with torch.enable_grad():
            for _ in range(self.steps):
                logits = torch.addmm(bias, x, weight.t())
                loss = -(cell_weight *
                         (soft * logits.log_softmax(1)).sum(1)).sum()
                loss = loss + 0.5 * self.weight_decay * weight.square().sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        # Fold the standardisation into the convolution.
        conv = nn.Conv2d(x.shape[1], self.num_classes, 1)
        with torch.no_grad():
            folded = weight / std
            conv.weight.copy_(folded[:, :, None, None])
            conv.bias.copy_(bias - folded @ mean)
        return conv

    def predict(self, train_feats: Tensor, train_labels: Tensor,
                val_feats: Tensor) -> Tensor:
        """Scores of the classifier fitted on one split (:meth:`fit`) for
        the cells of the other.

        Args:
            train_feats (Tensor): Shape (N1, C, h, w).
            train_labels (Tensor): Shape (N1, H, W).
            val_feats (Tensor): Shape (N2, C, h', w').

        Returns:
            Tensor: Logits, shape (N2, K, h', w').
        """
        conv = self.fit(train_feats, train_labels)
        return conv(val_feats.float())
