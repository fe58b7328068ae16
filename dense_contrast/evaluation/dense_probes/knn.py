"""The dense k-NN probe: label each location by a weighted vote of its most
similar locations of a labelled split."""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dense_contrast.registry import METRICS

from .cells import check_pair, to_cells, to_grid
from .segmentation_probe import SegmentationProbe

__all__ = ['knn_vote', 'DenseKNNProbe']


def knn_vote(bank: Tensor,
             bank_labels: Tensor,
             queries: Tensor,
             k: int = 20,
             temperature: float = 0.07,
             chunk_size: int = 2048) -> Tensor:
    """Class votes of each query from its k most similar bank rows.

    Similarity is the cosine (rows are L2-normalised here). Each of the k
    neighbours votes with its label vector (one-hot or class proportions)
    weighted by ``exp(similarity / temperature)``, as in the k-NN monitor
    of DINO; ``temperature=inf`` gives equal weights. Queries are processed
    in chunks of ``chunk_size`` rows (one matmul and one ``topk`` each), so
    memory stays at ``chunk_size x M``.

    Args:
        bank (Tensor): Bank features, shape (M, C).
        bank_labels (Tensor): Label vectors of the bank, shape (M, K).
        queries (Tensor): Query features, shape (Q, C).
        k (int): Neighbours per query (at most M are used). Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        chunk_size (int): Queries per matmul. Defaults to 2048.

    Returns:
        Tensor: Votes normalised to sum to 1 per query, shape (Q, K).
    """
    if bank.dim() != 2 or queries.dim() != 2 or \
            bank.shape[1] != queries.shape[1]:
        raise ValueError(
            f'knn_vote: bank (M, C) and queries (Q, C) must share C, got '
            f'{tuple(bank.shape)} and {tuple(queries.shape)}')
    if bank_labels.dim() != 2 or len(bank_labels) != len(bank):
        raise ValueError(
            f'knn_vote: bank_labels must have shape (M={len(bank)}, K), got '
            f'{tuple(bank_labels.shape)}')
    if k < 1 or temperature <= 0:
        raise ValueError(
            f'knn_vote: need k >= 1 and temperature > 0, got k={k}, '
            f'temperature={temperature}')
    k = min(k, len(bank))
    bank = F.normalize(bank.float(), dim=1)
    bank_labels = bank_labels.float()
    votes = []
    for start in range(0, len(queries), chunk_size):
        chunk = F.normalize(queries[start:start + chunk_size].float(), dim=1)
        sim, idx = (chunk @ bank.t()).topk(k, dim=1)  # (q, k)
        weight = (sim / temperature).exp() if np.isfinite(temperature) \
            else torch.ones_like(sim)
        # (q, k, 1) * (q, k, K) summed over the neighbours.
        votes.append((weight.unsqueeze(2) * bank_labels[idx]).sum(1))
    votes = torch.cat(votes) if votes else queries.new_zeros(
        0, bank_labels.shape[1])
    return votes / votes.sum(1, keepdim=True).clamp(min=1e-12)


@METRICS.register_module()
class DenseKNNProbe(SegmentationProbe):
    """Dense k-NN retrieval: label each location of the evaluation split by
    its nearest locations of the fitting split.

    The bank holds every feature cell of the fitting split that has
    labelled pixels, with its class proportions as label (see
    :mod:`dense_contrast.evaluation.dense_probes`). Each evaluation cell
    gets the weighted vote of its ``k`` most similar bank cells
    (:func:`knn_vote`); the votes are upsampled to the label resolution for
    the mIoU. ``max_bank`` keeps an evenly spaced subset of the bank
    (deterministic) to bound the cost.

    Args:
        num_classes (int): Number of classes K.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        chunk_size (int): Queries per matmul. Defaults to 2048.
        max_bank (int, optional): Largest bank. Defaults to None (all).
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        prefix (str): Prefix of the result keys. Defaults to 'knn'.
    """

    def __init__(self,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 chunk_size: int = 2048,
                 max_bank: Optional[int] = None,
                 ignore_index: int = 255,
                 prefix: str = 'knn') -> None:
        super().__init__(num_classes, ignore_index, prefix)
        if k < 1 or temperature <= 0 or chunk_size < 1:
            raise ValueError(
                'DenseKNNProbe needs k >= 1, temperature > 0 and '
                f'chunk_size >= 1; got k={k}, temperature={temperature}, '
                f'chunk_size={chunk_size}')
        if max_bank is not None and max_bank < 1:
            raise ValueError(f'max_bank must be >= 1, got {max_bank}')
        self.k = k
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.max_bank = max_bank

    def build_bank(self, feats: Tensor,
                   labels: Tensor) -> Tuple[Tensor, Tensor]:
        """Bank rows and their class proportions.

        Args:
            feats (Tensor): Shape (N, C, h, w).
            labels (Tensor): Shape (N, H, W).

        Returns:
            tuple[Tensor, Tensor]: Features (M, C) and proportions (M, K).
        """
        check_pair(feats, labels, 'DenseKNNProbe')
        props = self.cell_proportions(feats, labels)
        keep = props.sum(1) > 0
        bank, props = to_cells(feats)[keep], props[keep]
        if self.max_bank is not None and len(bank) > self.max_bank:
            idx = torch.linspace(0, len(bank) - 1, self.max_bank).long()
            bank, props = bank[idx], props[idx]
        return bank, props

    def predict(self, train_feats: Tensor, train_labels: Tensor,
                val_feats: Tensor) -> Tensor:
        """Votes of the bank of one split for the cells of the other.

        Args:
            train_feats (Tensor): Shape (N1, C, h, w).
            train_labels (Tensor): Shape (N1, H, W).
            val_feats (Tensor): Shape (N2, C, h', w').

        Returns:
            Tensor: Vote proportions, shape (N2, K, h', w').
        """
        bank, bank_labels = self.build_bank(train_feats, train_labels)
        votes = knn_vote(bank, bank_labels, to_cells(val_feats), self.k,
                         self.temperature, self.chunk_size)
        return to_grid(votes, val_feats)
