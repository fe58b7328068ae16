"""Cross-process helpers that reduce to plain tensor ops on one process.

All of them go through :mod:`mmengine.dist`, whose collectives are identities
when no process group is initialised, so a single CPU process runs the same
code path as a multi-GPU job.
"""
from typing import List, Sequence, Tuple

import torch
from mmengine.dist import all_gather
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from torch import Tensor


@torch.no_grad()
def gather_batch(x: Tensor) -> Tensor:
    """Concatenate a tensor over all processes along the batch axis.

    No gradient flows through the result (``all_gather`` is not
    differentiable); use it for keys, which carry no gradient anyway.

    Args:
        x (Tensor): This process's part. Shape (N, ...).

    Returns:
        Tensor: Parts in rank order. Shape (N * world_size, ...).
    """
    return torch.cat(all_gather(x), dim=0)


@torch.no_grad()
def batch_shuffle(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Shuffle a batch across processes, so that BN statistics of the key
    encoder cannot leak which key belongs to which query (shuffling BN).

    Args:
        x (Tensor): This process's images. Shape (N, ...).

    Returns:
        tuple[Tensor, Tensor]: This process's share of the shuffled global
        batch, shape (N, ...), and the index that undoes the shuffle,
        shape (N * world_size,).
    """
    return batch_shuffle_ddp(x)


@torch.no_grad()
def batch_unshuffle(tensors: Sequence[Tensor],
                    idx_unshuffle: Tensor) -> List[Tensor]:
    """Return every row of several per-sample tensors to its own image.

    The tensors are flattened and concatenated so that one collective moves
    them all, instead of one all-gather per tensor.

    Args:
        tensors (Sequence[Tensor]): Outputs computed on the shuffled batch,
            each of shape (N, ...).
        idx_unshuffle (Tensor): The index returned by :func:`batch_shuffle`.

    Returns:
        list[Tensor]: The same tensors in the original order and shapes.
    """
    flat = torch.cat([t.flatten(1) for t in tensors], dim=1)
    flat = batch_unshuffle_ddp(flat, idx_unshuffle)
    sizes = [t[0].numel() for t in tensors]
    return [
        part.view_as(t) for part, t in zip(flat.split(sizes, dim=1), tensors)
    ]
