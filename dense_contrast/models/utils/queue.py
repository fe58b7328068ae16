"""A FIFO memory of embeddings, shared by every method that keeps negatives."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FeatureQueue(nn.Module):
    """First-in first-out memory of L2-normalised embeddings (MoCo's queue).

    The memory and its write pointer are buffers, so they are saved in
    checkpoints and restored by ``--resume``.

    The queue length need not be a multiple of the global batch. A batch
    that reaches the end of the memory is split: its first part fills the
    last columns and the rest wraps around and overwrites the oldest
    entries at the start, so the memory always holds the ``length`` most
    recent keys. When ``length`` is a multiple of the batch, the write
    positions are exactly those of MoCo's and mmpretrain's queues.

    Writes are out of place (a new tensor replaces the buffer), so logits
    computed from :attr:`feats` before a :meth:`push` keep a valid autograd
    graph without cloning the memory on every read.

    Args:
        dim (int): Embedding dimension D.
        length (int): Number of stored embeddings K.

    Attributes:
        feats (Tensor): The memory. Shape (D, K), unit-norm columns.
        ptr (Tensor): Index of the next column to write. Shape (1,), long.
    """

    def __init__(self, dim: int, length: int) -> None:
        super().__init__()
        if dim <= 0 or length <= 0:
            raise ValueError(
                f'FeatureQueue needs dim > 0 and length > 0, got dim={dim}, '
                f'length={length}')
        self.dim = dim
        self.length = length
        self.register_buffer('feats',
                             F.normalize(torch.randn(dim, length), dim=0))
        self.register_buffer('ptr', torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def push(self, keys: Tensor) -> None:
        """Write a batch of keys at the pointer and advance it.

        Args:
            keys (Tensor): Keys of the whole (already gathered) batch, in
                order. Shape (B, D), with B <= K.
        """
        batch = keys.shape[0]
        if batch > self.length:
            raise ValueError(
                f'a batch of {batch} keys does not fit a queue of length '
                f'{self.length}: use a queue at least as long as the global '
                'batch')
        # Computed on the device from the pointer tensor: no host sync.
        positions = (self.ptr + torch.arange(
            batch, device=keys.device)) % self.length
        self.feats = self.feats.index_copy(1, positions,
                                           keys.detach().t().to(self.feats))
        self.ptr = (self.ptr + batch) % self.length

    def extra_repr(self) -> str:
        return f'dim={self.dim}, length={self.length}'
