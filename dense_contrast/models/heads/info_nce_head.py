"""InfoNCE against one positive and a bank of negatives."""
from typing import List, Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor

from dense_contrast.registry import MODELS
from ..losses import PositiveSet, info_nce, info_nce_shared_negatives


@MODELS.register_module()
class InfoNCEHead(BaseModule):
    """InfoNCE loss with one positive per query and shared negatives.

    For unit-norm embeddings and temperature tau this is

        loss_m = -log( exp(q_m . p_m / tau) /
                       (exp(q_m . p_m / tau) + sum_k exp(q_m . n_k / tau)) ),

    averaged over m: the cross-entropy of MoCo's logits ``[l_pos, l_neg]``
    against label 0, as mmpretrain's ``ContrastiveHead`` computes it (see
    :func:`info_nce`, which also describes the mixed-precision handling).
    The inputs must already be L2-normalised (the algorithms normalise once,
    because dense matching needs the normalised features too); this head owns
    only the temperature.

    Args:
        temperature (float): Softmax temperature tau. Defaults to 0.2
            (DenseCL and MoCo v2).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
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
        return info_nce(query, positive, negatives, self.temperature)

    def loss_multi_positive(self, query: Tensor,
                            positive_sets: Sequence[PositiveSet],
                            negatives: Tensor) -> List[Tensor]:
        """InfoNCE losses of the same queries and negatives for several sets
        of positives, each with one or more positives per query (the
        product with the negatives is computed once for all sets).

        Args:
            query (Tensor): Unit-norm queries. Shape (M, D).
            positive_sets (Sequence[tuple[Tensor, Tensor | None]]): Pairs
                ``(positives, valid)``: unit-norm positives of shape (M, D)
                or (M, P, D), and which of the P count, shape (M, P), bool,
                at least one per query (None: all).
            negatives (Tensor): Unit-norm negatives. Shape (D, K).

        Returns:
            list[Tensor]: One scalar loss per set, in order.
        """
        return info_nce_shared_negatives(query, positive_sets, negatives,
                                         self.temperature)
