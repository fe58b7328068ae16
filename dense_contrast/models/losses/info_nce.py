"""InfoNCE of queries against their positives and a bank of negatives, the
loss that DenseCL, DSC and DenseCL++ share."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

#: One set of positives: the vectors, (M, D) or (M, P, D), and which of the
#: P positives of each query count, (M, P) bool (None: all of them).
PositiveSet = Tuple[Tensor, Optional[Tensor]]


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32 if it is fp16/bf16 (autocast), else unchanged.

    float64 inputs keep their precision, so slow references stay exact.

    Args:
        x (Tensor): Any tensor.

    Returns:
        Tensor: ``x.float()`` for half precision inputs, else ``x``.
    """
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def info_nce(query: Tensor,
             positives: Tensor,
             negatives: Tensor,
             temperature: float,
             exclude: Optional[Tensor] = None,
             valid: Optional[Tensor] = None) -> Tensor:
    """Mean InfoNCE loss of unit-norm queries.

    For query q_m with positives p_mj (j in the valid set P_m), negatives
    n_k (k not excluded for m) and temperature tau, with l = q . v / tau,

        loss_m = -1/|P_m| sum_{j in P_m} log( exp(l_mj) /
                 (sum_{j' in P_m} exp(l_mj') + sum_k exp(l_mk)) ),

    averaged over m. With one positive this is MoCo's cross-entropy of the
    logits ``[l_pos, l_neg]`` against label 0 (mmpretrain's
    ``ContrastiveHead``).

    Mixed precision: under autocast only the (M, K) product with the
    negatives runs in fp16/bf16; the positive logits and every reduction run
    in float32 (float32 and float64 inputs are computed in their own dtype).
    Excluded negatives get the dtype's lowest logit, so they take zero weight
    and zero gradient, and a query whose negatives are all excluded keeps a
    finite loss. The queries are scaled by 1/tau once, before the products,
    and the positives are merged with ``logaddexp``, so the (M, K) logits are
    neither concatenated nor divided.

    Args:
        query (Tensor): Unit-norm queries. Shape (M, D).
        positives (Tensor): Unit-norm positives: one per query, shape (M, D),
            or P per query, shape (M, P, D).
        negatives (Tensor): Unit-norm negatives shared by all queries.
            Shape (D, K), as :class:`FeatureQueue` stores them.
        temperature (float): Softmax temperature tau.
        exclude (Tensor, optional): ``exclude[m, k]`` drops negative k for
            query m. Shape (M, K), bool. Defaults to None (keep all).
        valid (Tensor, optional): ``valid[m, j]`` keeps positive j of query
            m; at least one per query. Shape (M, P), bool. Defaults to None
            (keep all).

    Returns:
        Tensor: Scalar loss.
    """
    (loss, ) = info_nce_shared_negatives(query, [(positives, valid)],
                                         negatives, temperature, exclude)
    return loss


def info_nce_shared_negatives(
        query: Tensor,
        positive_sets: Sequence[PositiveSet],
        negatives: Tensor,
        temperature: float,
        exclude: Optional[Tensor] = None) -> List[Tensor]:
    """:func:`info_nce` of the same queries and negatives for several sets
    of positives, with one (M, K) product with the negatives for all.

    Args:
        query (Tensor): Unit-norm queries. Shape (M, D).
        positive_sets (Sequence[tuple[Tensor, Tensor | None]]): Pairs
            ``(positives, valid)`` as :func:`info_nce` takes them.
        negatives (Tensor): Unit-norm negatives. Shape (D, K).
        temperature (float): Softmax temperature tau.
        exclude (Tensor, optional): Excluded negatives. Shape (M, K), bool.
            Defaults to None.

    Returns:
        list[Tensor]: One scalar loss per set, in order.
    """
    if not temperature > 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    num_queries, num_negatives = query.shape[0], negatives.shape[1]
    scaled = query / temperature
    neg_logits = at_least_float32(scaled @ negatives.to(scaled.dtype))  # M, K
    if exclude is not None:
        if exclude.shape != (num_queries, num_negatives):
            raise ValueError(
                f'exclude must have shape (M, K) = ({num_queries}, '
                f'{num_negatives}), got {tuple(exclude.shape)}')
        neg_logits = neg_logits.masked_fill(exclude,
                                            torch.finfo(neg_logits.dtype).min)
    neg_logsumexp = neg_logits.logsumexp(dim=1)  # M
    scaled = at_least_float32(scaled)
    return [
        _multi_positive_loss(scaled, positives, valid, neg_logsumexp)
        for positives, valid in positive_sets
    ]


def _multi_positive_loss(scaled: Tensor, positives: Tensor,
                         valid: Optional[Tensor],
                         neg_logsumexp: Tensor) -> Tensor:
    """The loss of :func:`info_nce` from the scaled queries (M, D), the
    positives (M, D) or (M, P, D), their mask (M, P) and the negatives'
    log-sum-exp (M,)."""
    if positives.dim() == 2:
        positives = positives.unsqueeze(1)
    if positives.dim() != 3 or positives.shape[0] != scaled.shape[0]:
        raise ValueError(
            'positives must have shape (M, D) or (M, P, D) with '
            f'M = {scaled.shape[0]}, got {tuple(positives.shape)}')
    pos_logits = (scaled.unsqueeze(1) * at_least_float32(positives)).sum(
        dim=2)  # M, P
    if valid is None:
        # Every positive counts (one each for the single-positive case).
        pos_logsumexp = pos_logits.logsumexp(dim=1)
        log_denominator = torch.logaddexp(pos_logsumexp, neg_logsumexp)
        return (log_denominator.unsqueeze(1) - pos_logits).mean()
    if valid.shape != pos_logits.shape:
        raise ValueError(
            f'valid must have shape (M, P) = '
            f'{tuple(pos_logits.shape)}, got {tuple(valid.shape)}')
    log_denominator = torch.logaddexp(
        pos_logits.masked_fill(~valid, float('-inf')).logsumexp(dim=1),
        neg_logsumexp)
    per_positive = (log_denominator.unsqueeze(1) - pos_logits) * valid
    return (per_positive.sum(dim=1) / valid.sum(dim=1)).mean()
