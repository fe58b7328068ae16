"""Cross-process helpers that reduce to plain tensor ops on one process.

All of them go through :mod:`mmengine.dist`, whose collectives are identities
when no process group is initialised, so a single CPU process runs the same
code path as a multi-GPU job.
"""
from typing import List, Sequence, Tuple

import torch
from mmengine.dist import all_gather, all_reduce, get_rank, get_world_size
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


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along the batch axis whose backward sums the gradients of
    every process's copy and returns this process's slice."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.batch = x.shape[0]
        return torch.cat(all_gather(x), dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        # A copy: autograd may share the incoming gradient elsewhere.
        grad = grad.clone(memory_format=torch.contiguous_format)
        all_reduce(grad, op='sum')
        start = get_rank() * ctx.batch
        return grad[start:start + ctx.batch]


def gather_batch_with_grad(x: Tensor) -> Tensor:
    """Concatenate a tensor over all processes, keeping the gradient.

    For SimCLR-style in-batch negatives, which are online embeddings. Every
    process's loss depends on every image, so the backward sums the
    gradients that all processes computed for this process's rows
    (lightly's choice; mmpretrain's SimCLR keeps only the local loss's
    share). With DDP averaging the parameter gradients, W processes then
    get exactly the gradients of one process on the global batch when the
    loss is a mean over equal per-process parts (tested with gloo).

    Args:
        x (Tensor): This process's part, the same shape on every process.
            Shape (N, ...).

    Returns:
        Tensor: Parts in rank order. Shape (N * world_size, ...).
    """
    if get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


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
