"""The dense k-NN probe: label each location by a weighted vote of its most
similar locations of a labelled split."""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from dense_contrast.registry import METRICS
from dense_contrast.utils.extras import MissingExtraError, import_optional

from .cells import check_pair, to_cells, to_grid
from .segmentation_probe import SegmentationProbe

__all__ = ['KNN_BACKENDS', 'faiss_available', 'knn_search', 'knn_vote',
           'DenseKNNProbe']


#: Nearest-neighbour search backends of :func:`knn_search`.
KNN_BACKENDS = ('torch', 'faiss', 'auto')


def faiss_available() -> bool:
    """Whether faiss imports (the optional ``retrieval`` extra).

    Returns:
        bool: True when ``import faiss`` succeeds.
    """
    try:
        import_optional('faiss', 'faiss_available')
    except MissingExtraError:
        return False
    return True


def knn_search(bank: Tensor,
               queries: Tensor,
               k: int,
               chunk_size: int = 2048,
               backend: str = 'torch') -> Tuple[Tensor, Tensor]:
    """Exact k nearest bank rows of each query by inner product.

    Rows are compared as given (L2-normalise both for the cosine).

    - ``'torch'``: one matmul and one ``topk`` per chunk of ``chunk_size``
      queries, so the similarity matrix held at once is
      ``chunk_size x M`` floats (``4 * chunk_size * M`` bytes).
    - ``'faiss'``: an exact inner-product index (``IndexFlatIP``), searched
      in the same chunks; needs the ``retrieval`` extra (faiss-cpu).
    - ``'auto'``: faiss when it is installed, torch otherwise.

    Both backends return the same neighbours up to ties and float rounding.

    Args:
        bank (Tensor): Bank rows, shape (M, C).
        queries (Tensor): Query rows, shape (Q, C).
        k (int): Neighbours per query, 1 <= k <= M.
        chunk_size (int): Queries per step. Defaults to 2048.
        backend (str): One of :data:`KNN_BACKENDS`. Defaults to 'torch'.

    Returns:
        tuple[Tensor, Tensor]: Similarities in decreasing order, shape
        (Q, k), float32, and bank indices, shape (Q, k), int64.

    Raises:
        ValueError: If ``backend`` or ``k`` is not valid.
        MissingExtraError: If ``backend='faiss'`` and faiss is missing.
    """
    if backend not in KNN_BACKENDS:
        raise ValueError(f'knn_search: backend must be one of '
                         f'{KNN_BACKENDS}, got {backend!r}')
    if not 1 <= k <= len(bank):
        raise ValueError(f'knn_search: need 1 <= k <= M={len(bank)}, got '
                         f'k={k}')
    if backend == 'auto':
        backend = 'faiss' if faiss_available() else 'torch'
    bank = bank.float()
    index = None
    if backend == 'faiss':
        faiss = import_optional('faiss', "knn_search(backend='faiss')")
        index = faiss.IndexFlatIP(bank.shape[1])
        index.add(bank.contiguous().numpy())
    sims, idxs = [], []
    for start in range(0, len(queries), chunk_size):
        chunk = queries[start:start + chunk_size].float()
        if index is None:
            sim, idx = (chunk @ bank.t()).topk(k, dim=1)  # (q, k)
        else:
            sim_np, idx_np = index.search(chunk.contiguous().numpy(), k)
            sim = torch.from_numpy(sim_np)
            idx = torch.from_numpy(idx_np).long()
        sims.append(sim)
        idxs.append(idx)
    if not sims:
        return queries.new_zeros(0, k), torch.zeros(0, k, dtype=torch.long)
    return torch.cat(sims), torch.cat(idxs)


def knn_vote(bank: Tensor,
             bank_labels: Tensor,
             queries: Tensor,
             k: int = 20,
             temperature: float = 0.07,
             chunk_size: int = 2048,
             backend: str = 'torch') -> Tensor:
    """Class votes of each query from its k most similar bank rows.

    Similarity is the cosine (rows are L2-normalised here). Each of the k
    neighbours votes with its label vector (one-hot or class proportions)
    weighted by ``softmax(similarity / temperature)`` over the k
    neighbours, as in the k-NN monitor of DINO and the retrieval of
    Hummingbird; ``temperature=inf`` gives equal weights (the majority vote
    of the k labels), the limit of large temperatures. The neighbours come
    from :func:`knn_search` in chunks of ``chunk_size`` queries.

    Args:
        bank (Tensor): Bank features, shape (M, C).
        bank_labels (Tensor): Label vectors of the bank, shape (M, K).
        queries (Tensor): Query features, shape (Q, C).
        k (int): Neighbours per query (at most M are used). Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        chunk_size (int): Queries per matmul. Defaults to 2048.
        backend (str): Search backend of :func:`knn_search`. Defaults to
            'torch'.

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
    if len(bank) == 0:
        raise ValueError('knn_vote: the bank is empty')
    k = min(k, len(bank))
    bank_labels = bank_labels.float()
    sim, idx = knn_search(
        F.normalize(bank.float(), dim=1), F.normalize(queries.float(), dim=1),
        k, chunk_size, backend)
    votes = []
    for start in range(0, len(idx), chunk_size):
        s, i = sim[start:start + chunk_size], idx[start:start + chunk_size]
        # The softmax subtracts each row's largest similarity, so a small
        # temperature (Hummingbird's 0.02) cannot overflow exp().
        weight = (s / temperature).softmax(1) if np.isfinite(temperature) \
            else torch.ones_like(s)
        # (q, k, 1) * (q, k, K) summed over the neighbours.
        votes.append((weight.unsqueeze(2) * bank_labels[i]).sum(1))
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
        backend (str): Search backend (:data:`KNN_BACKENDS`). Defaults to
            'torch'.
    """

    def __init__(self,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 chunk_size: int = 2048,
                 max_bank: Optional[int] = None,
                 ignore_index: int = 255,
                 prefix: str = 'knn',
                 backend: str = 'torch') -> None:
        super().__init__(num_classes, ignore_index, prefix)
        if k < 1 or temperature <= 0 or chunk_size < 1:
            raise ValueError(
                'DenseKNNProbe needs k >= 1, temperature > 0 and '
                f'chunk_size >= 1; got k={k}, temperature={temperature}, '
                f'chunk_size={chunk_size}')
        if max_bank is not None and max_bank < 1:
            raise ValueError(f'max_bank must be >= 1, got {max_bank}')
        if backend not in KNN_BACKENDS:
            raise ValueError(f'backend must be one of {KNN_BACKENDS}, got '
                             f'{backend!r}')
        self.backend = backend
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
                         self.temperature, self.chunk_size, self.backend)
        return to_grid(votes, val_feats)
