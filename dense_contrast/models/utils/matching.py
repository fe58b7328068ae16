"""Dense correspondence between two views by feature similarity, and the
location indexing of dense maps that goes with it."""
import torch
from torch import Tensor


@torch.no_grad()
def match_by_similarity(query_feats: Tensor, key_feats: Tensor) -> Tensor:
    """For every query location, the most similar key location of the same
    image.

    Args:
        query_feats (Tensor): Unit-norm features of view 1. Shape (N, C, S).
        key_feats (Tensor): Unit-norm features of view 2. Shape (N, C, S').

    Returns:
        Tensor: ``idx`` of shape (N, S) with
        ``idx[n, s] = argmax_j <query_feats[n, :, s], key_feats[n, :, j]>``.
    """
    # In float32 even under autocast: rounded similarities would flip
    # near-ties of the argmax, and the product is small (N x S x S').
    dtype = torch.promote_types(query_feats.dtype, torch.float32)
    with torch.autocast(query_feats.device.type, enabled=False):
        similarity = torch.bmm(query_feats.transpose(1, 2).to(dtype),
                               key_feats.to(dtype))  # N, S, S'
    return similarity.argmax(dim=2)


def gather_locations(feats: Tensor, idx: Tensor) -> Tensor:
    """Pick, for every output location, the feature at a given location.

    Args:
        feats (Tensor): Dense features. Shape (N, D, S').
        idx (Tensor): Locations to read. Shape (N, S), values in [0, S').

    Returns:
        Tensor: ``out[n, :, s] = feats[n, :, idx[n, s]]``. Shape (N, D, S).
    """
    return feats.gather(2, idx.unsqueeze(1).expand(-1, feats.shape[1], -1))


def dense_to_rows(dense: Tensor) -> Tensor:
    """One row per location of a dense map, image-major.

    Args:
        dense (Tensor): Dense features. Shape (N, D, S).

    Returns:
        Tensor: Shape (N * S, D), with ``out[n * S + s] = dense[n, :, s]``.
    """
    return dense.transpose(1, 2).flatten(0, 1)
