"""InfoNCE whose negatives may be excluded per query."""
from typing import Optional

import torch
from torch import Tensor

from dense_contrast.registry import MODELS
from .info_nce_head import InfoNCEHead, at_least_float32


@MODELS.register_module()
class MaskedInfoNCEHead(InfoNCEHead):
    """:class:`InfoNCEHead` with an optional mask of excluded negatives.

    In-batch negatives are shared by all queries except for a few that must
    not count for a given query: its own image in SimCLR's NT-Xent, or the
    locations of its own image among dense negatives across images. The
    excluded logits are replaced by the dtype's lowest value before the
    log-sum-exp, so they get zero weight and zero gradient, and a query
    whose negatives are all excluded keeps a finite loss. Without a mask
    this is exactly :class:`InfoNCEHead`.

    Args:
        temperature (float): Softmax temperature tau. Defaults to 0.2.
        init_cfg (dict, optional): Initialisation config.
    """

    def loss(self,
             query: Tensor,
             positive: Tensor,
             negatives: Tensor,
             exclude: Optional[Tensor] = None) -> Tensor:
        """Mean InfoNCE loss.

        Args:
            query (Tensor): Unit-norm queries. Shape (M, D).
            positive (Tensor): One unit-norm positive per query. Shape (M, D).
            negatives (Tensor): Unit-norm negatives shared by all queries.
                Shape (D, K).
            exclude (Tensor, optional): ``exclude[m, k]`` drops negative k
                for query m. Shape (M, K), bool. Defaults to None (keep all).

        Returns:
            Tensor: Scalar loss.
        """
        if exclude is None:
            return super().loss(query, positive, negatives)
        if exclude.shape != (query.shape[0], negatives.shape[1]):
            raise ValueError(
                f'exclude must have shape (M, K) = ({query.shape[0]}, '
                f'{negatives.shape[1]}), got {tuple(exclude.shape)}')
        scaled = query / self.temperature
        # As in InfoNCEHead: only the (M, K) product runs in reduced
        # precision under autocast; the rest stays float32.
        pos_logits = (at_least_float32(scaled) *
                      at_least_float32(positive)).sum(dim=1)  # M
        neg_logits = at_least_float32(scaled @ negatives.to(scaled.dtype))
        neg_logits = neg_logits.masked_fill(
            exclude, torch.finfo(neg_logits.dtype).min)  # M, K
        return (torch.logaddexp(pos_logits, neg_logits.logsumexp(dim=1)) -
                pos_logits).mean()
