"""InfoNCE whose negatives may be excluded per query."""
from typing import Optional

from torch import Tensor

from dense_contrast.registry import MODELS
from ..losses import info_nce
from .info_nce_head import InfoNCEHead


@MODELS.register_module()
class MaskedInfoNCEHead(InfoNCEHead):
    """:class:`InfoNCEHead` with an optional mask of excluded negatives.

    In-batch negatives are shared by all queries except for a few that must
    not count for a given query: its own image in SimCLR's NT-Xent, or the
    locations of its own image among dense negatives across images. The
    excluded logits get zero weight and zero gradient, and a query whose
    negatives are all excluded keeps a finite loss (see :func:`info_nce`).
    Without a mask this is exactly :class:`InfoNCEHead`.

    Args:
        temperature (float): Softmax temperature tau. Defaults to 0.2.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
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
        return info_nce(query, positive, negatives, self.temperature, exclude)
