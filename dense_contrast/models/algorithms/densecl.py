"""DenseCL: global MoCo v2 contrast plus dense contrast between two views."""
from typing import Dict, List, Optional, Union

from mmpretrain.structures import DataSample
from torch import Tensor, nn

from dense_contrast.registry import MODELS
from .base_dense_contrast import BaseDenseContrast


@MODELS.register_module()
class DenseCL(BaseDenseContrast):
    """`Dense Contrastive Learning for Self-Supervised Visual Pre-Training
    <https://arxiv.org/abs/2011.09157>`_.

    Follows the authors' code (https://github.com/WXinlong/DenseCL) and
    equals mmpretrain's ``DenseCL`` on the same weights and views (tested).
    The loss is ``(1 - lambda) * L_single + lambda * L_dense``:

    - ``L_single``: InfoNCE of the global query against its key, with the
      global queue as negatives (MoCo v2);
    - ``L_dense``: InfoNCE of every dense query location against the key
      location most similar in backbone features, with the dense queue of
      pooled keys of past images as negatives.

    ``loss_lambda`` is a plain attribute, so mmpretrain's ``DenseCLHook``
    can hold it at 0 for a warm-up (off in the authors' configs).

    Args:
        backbone (dict or nn.Module): Backbone, e.g. ``ResNet``.
        neck (dict or nn.Module): Neck returning :class:`DenseProjections`,
            e.g. :class:`DenseProjectionNeck`.
        head (dict or nn.Module): Loss head, e.g. :class:`InfoNCEHead`.
        queue_len (int): Length K of the global and the dense queue.
            Defaults to 65536.
        feat_dim (int): Projection dimension D. Defaults to 128.
        momentum (float): MoCo's momentum m of the key encoder.
            Defaults to 0.999.
        match_on (str): Features that find the dense positives, 'backbone'
            or 'neck'. Defaults to 'backbone'.
        data_preprocessor (dict or nn.Module, optional): Preprocessor.
            Defaults to None (``SelfSupDataPreprocessor``).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None.
        loss_lambda (float): Weight lambda of the dense loss. Defaults to 0.5.

    See :class:`BaseDenseContrast` for the shared arguments in detail.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 neck: Union[dict, nn.Module],
                 head: Union[dict, nn.Module],
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.999,
                 match_on: str = 'backbone',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None,
                 *,
                 loss_lambda: float = 0.5) -> None:
        super().__init__(
            backbone, neck, head, queue_len=queue_len, feat_dim=feat_dim,
            momentum=momentum, match_on=match_on,
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0.0 <= loss_lambda <= 1.0:
            raise ValueError(
                f'loss_lambda must be in [0, 1], got {loss_lambda}')
        self.loss_lambda = loss_lambda

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Losses of one step; pushes this step's keys into the queues.

        Args:
            inputs (list[Tensor]): Two views, each of shape (N, 3, H, W).
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss_single`` and ``loss_dense``, already
            weighted.
        """
        query = self.encode_query(inputs[0])
        key = self.encode_key(inputs[1])
        loss_single = self.global_contrast_loss(query, key)
        loss_dense = self.dense_contrast_loss(query, key)
        self.push_keys(key)
        return dict(
            loss_single=(1 - self.loss_lambda) * loss_single,
            loss_dense=self.loss_lambda * loss_dense)
