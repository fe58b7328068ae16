"""Pixel neighbours across two views of an image (DSC's intra-image
relations): the generalisation of DenseCL's single best match to a set."""
from typing import NamedTuple, Optional

import torch
from torch import Tensor


class Neighbours(NamedTuple):
    """Result of :func:`discover_neighbours`.

    Attributes:
        index (Tensor): Key locations, most similar first. Shape (N, S, k),
            long; ``index[..., 0]`` is the best match.
        valid (Tensor): Which of them count as positives. Shape (N, S, k),
            bool; ``valid[..., 0]`` is always True.
    """
    index: Tensor
    valid: Tensor


@torch.no_grad()
def discover_neighbours(query_feats: Tensor,
                        key_feats: Tensor,
                        num_neighbours: int,
                        sim_thr: Optional[float] = None) -> Neighbours:
    """For every query location, the ``num_neighbours`` key locations of the
    same image most similar to it.

    With ``num_neighbours=1`` this is DenseCL's match. The best match is
    always a positive; the others only if their cosine similarity to the
    query location is at least ``sim_thr`` (when given).

    Args:
        query_feats (Tensor): Unit-norm features of view 1. Shape (N, C, S).
        key_feats (Tensor): Unit-norm features of view 2. Shape (N, C, S').
        num_neighbours (int): Neighbours k per query location, 1 <= k <= S'.
        sim_thr (float, optional): Minimum similarity of the 2nd..k-th
            neighbours. Defaults to None (keep all k).

    Returns:
        Neighbours: ``index[n, s]`` lists the key locations j in decreasing
        order of ``<query_feats[n, :, s], key_feats[n, :, j]>``, and
        ``valid`` marks the ones kept.
    """
    num_keys = key_feats.shape[2]
    if not 1 <= num_neighbours <= num_keys:
        raise ValueError(
            f'num_neighbours={num_neighbours} must be in [1, {num_keys}] '
            '(the number of key locations)')
    similarity = torch.bmm(query_feats.transpose(1, 2), key_feats)  # N,S,S'
    values, index = similarity.topk(num_neighbours, dim=2)
    if sim_thr is None:
        valid = torch.ones_like(index, dtype=torch.bool)
    else:
        valid = values >= sim_thr
        valid[..., 0] = True
    return Neighbours(index, valid)
