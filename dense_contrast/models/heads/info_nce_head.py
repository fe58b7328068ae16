"""InfoNCE against one positive and a bank of negatives."""
from typing import Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from dense_contrast.registry import MODELS


def at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32 if it is fp16/bf16 (autocast), else unchanged (so
    float64 references keep their precision)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


@MODELS.register_module()
class InfoNCEHead(BaseModule):
    """InfoNCE loss with one positive per query and shared negatives.

    For unit-norm embeddings and temperature tau this is

        loss_m = -log( exp(q_m . p_m / tau) /
                       (exp(q_m . p_m / tau) + sum_k exp(q_m . n_k / tau)) ),

    averaged over m: the cross-entropy of MoCo's logits ``[l_pos, l_neg]``
    against label 0, as mmpretrain's ``ContrastiveHead`` computes it. The
    inputs must already be L2-normalised (the algorithms normalise once,
    because dense matching needs the normalised features too); this head owns
    only the temperature. The query is scaled by 1/tau before the product
    with the bank and the positive is merged with ``logaddexp``, so the
    (M, K) logits are neither concatenated nor divided again.

    Args:
        temperature (float): Softmax temperature tau. Defaults to 0.2
            (DenseCL and MoCo v2).
    """

    def __init__(self,
                 temperature: float = 0.2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature

    def loss(self, query: Tensor, positive: Tensor,
             negatives: Tensor) -> Tensor:
        """Mean InfoNCE loss.

        Args:
            query (Tensor): Unit-norm queries. Shape (M, D).
            positive (Tensor): One unit-norm positive per query. Shape (M, D).
            negatives (Tensor): Unit-norm negatives, shared by all queries.
                Shape (D, K), as stored by :class:`FeatureQueue`.

        Returns:
            Tensor: Scalar loss.
        """
        scaled = query / self.temperature
        # Under autocast the (M, K) product runs in fp16/bf16; the positive
        # logit and the reduction stay float32, so mixed precision only
        # rounds the negative logits (no-ops in float32 and float64).
        pos_logits = (at_least_float32(scaled) *
                      at_least_float32(positive)).sum(dim=1)  # M
        neg_logits = at_least_float32(
            scaled @ negatives.to(scaled.dtype))  # M, K
        return (torch.logaddexp(pos_logits, neg_logits.logsumexp(dim=1)) -
                pos_logits).mean()
