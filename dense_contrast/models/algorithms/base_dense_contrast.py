"""What DenseCL, DSC and DenseCL++ share: a momentum key encoder, queues of
negatives, shuffled-BN key encoding and dense matching between two views."""
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import ExponentialMovingAverage
from mmpretrain.models import BaseSelfSupervisor
from torch import Tensor, nn

from ..utils import (FeatureQueue, batch_shuffle, batch_unshuffle,
                     build_parts, dense_to_rows, gather_batch,
                     gather_locations, match_by_similarity)

# Load-time renames from mmpretrain's DenseCL/MoCo state dicts; the neck maps
# its own names (see DenseProjectionNeck).
MMPRETRAIN_QUEUE_KEYS = {
    'queue': 'global_queue.feats',
    'queue_ptr': 'global_queue.ptr',
    'queue2': 'dense_queue.feats',
    'queue2_ptr': 'dense_queue.ptr',
}


class ViewEmbeddings(NamedTuple):
    """Unit-norm embeddings of one view (every field L2-normalised over its
    channel axis).

    Attributes:
        backbone_feats (Tensor): Last backbone map, detached (it only serves
            dense matching). Shape (N, C, S).
        global_proj (Tensor): Global projection. Shape (N, D).
        dense_proj (Tensor): Dense projection. Shape (N, D, S).
        dense_pooled (Tensor): Pooled dense projection. Shape (N, D).
    """
    backbone_feats: Tensor
    global_proj: Tensor
    dense_proj: Tensor
    dense_pooled: Tensor


def _rename_mmpretrain_queues(module: nn.Module, state_dict: Dict[str, Tensor],
                              prefix: str, *args) -> None:
    for old, new in MMPRETRAIN_QUEUE_KEYS.items():
        if prefix + old in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)


class BaseDenseContrast(BaseSelfSupervisor):
    """Base of the momentum-contrast methods with a dense branch.

    Owns the online encoder (``backbone`` + ``neck``), its momentum copy
    ``encoder_k`` (mmengine's :class:`ExponentialMovingAverage`, updated
    inside the forward before the keys are computed, as in MoCo), a global
    and a dense :class:`FeatureQueue`, and the helpers subclasses compose:
    :meth:`encode_query`, :meth:`encode_key` (no gradient, shuffled BN
    across processes), :meth:`match_dense`, DenseCL's two terms
    (:meth:`global_contrast_loss`, :meth:`dense_contrast_loss`) and
    :meth:`push_keys`.

    Shapes: N images per process, C backbone channels, D projection dim,
    S = H * W locations, K queue length.

    State dicts of mmpretrain's ``DenseCL`` load with ``strict=True``: keys
    ``queue``, ``queue_ptr``, ``queue2``, ``queue2_ptr`` become
    ``global_queue.*`` and ``dense_queue.*`` (see
    ``MMPRETRAIN_QUEUE_KEYS``), and the neck renames its own layers.

    Args:
        backbone (dict or nn.Module): Backbone, e.g. ``ResNet``.
        neck (dict or nn.Module): Neck returning :class:`DenseProjections`.
        head (dict or nn.Module): Loss head, e.g. :class:`InfoNCEHead`.
        queue_len (int): Length K of both queues. Need not be a multiple of
            the global batch (see :class:`FeatureQueue`). Defaults to 65536.
        feat_dim (int): Projection dimension D. Defaults to 128.
        momentum (float): MoCo's momentum m in
            ``theta_k <- m * theta_k + (1 - m) * theta_q``. Defaults to 0.999.
            (mmengine's EMA takes ``1 - m``; the conversion happens here.)
        match_on (str): Features that find the dense positives: 'backbone'
            (the authors' choice) or 'neck' (the dense projections).
            Defaults to 'backbone'.
        data_preprocessor (dict or nn.Module, optional): Preprocessor; a
            dict without ``type`` configures a ``SelfSupDataPreprocessor``.
            Defaults to None (``SelfSupDataPreprocessor``).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None.
        momentum_encoder (bool): Whether to keep the momentum key encoder
            and the queues (MoCo style). If False (SimCLR style), neither is
            built, ``queue_len`` and ``momentum`` are unused, and both
            views are embedded with :meth:`encode_query` (with gradient).
            Defaults to True.
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
                 momentum_encoder: bool = True) -> None:
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        if momentum < 0.5:
            raise ValueError(
                f'momentum={momentum} would make the key encoder follow the '
                'query encoder almost without averaging. dense_contrast takes '
                "MoCo's m (weight of the old key encoder, e.g. 0.999); "
                "mmpretrain configs write mmengine's 1 - m (e.g. 0.001).")
        if match_on not in ('backbone', 'neck'):
            raise ValueError(
                f"match_on must be 'backbone' or 'neck', got {match_on!r}")
        super().__init__(
            **build_parts(backbone, neck, head, data_preprocessor),
            init_cfg=init_cfg)
        self.momentum = momentum
        self.match_on = match_on
        self.encoder_k: Optional[ExponentialMovingAverage] = None
        self.global_queue: Optional[FeatureQueue] = None
        self.dense_queue: Optional[FeatureQueue] = None
        if momentum_encoder:
            self.encoder_k = ExponentialMovingAverage(
                nn.Sequential(self.backbone, self.neck),
                momentum=1.0 - momentum)
            self.global_queue = FeatureQueue(feat_dim, queue_len)
            self.dense_queue = FeatureQueue(feat_dim, queue_len)
        self.register_load_state_dict_pre_hook(_rename_mmpretrain_queues)

    def embed(self, backbone: nn.Module, neck: nn.Module,
              images: Tensor) -> ViewEmbeddings:
        """Embed a view with a given encoder (no momentum update).

        Args:
            backbone (nn.Module): The online backbone or its momentum copy.
            neck (nn.Module): The matching neck.
            images (Tensor): Shape (N, 3, H_img, W_img).

        Returns:
            ViewEmbeddings: Unit-norm embeddings (see
            :meth:`normalise_embeddings`).
        """
        feats = backbone(images)
        return self.normalise_embeddings(feats, neck(feats))

    def normalise_embeddings(self, feats: Sequence[Tensor],
                             proj: NamedTuple) -> ViewEmbeddings:
        """Turn backbone and neck outputs into unit-norm embeddings.

        Subclasses whose neck returns more fields override this to add them
        (the result may be any NamedTuple of per-image tensors: the key side
        unshuffles every field).

        Args:
            feats (Sequence[Tensor]): Backbone outputs; the last has shape
                (N, C, H, W).
            proj (NamedTuple): Neck outputs with at least ``global_proj``,
                ``dense_proj`` and ``dense_pooled``.

        Returns:
            ViewEmbeddings: Unit-norm embeddings.
        """
        return ViewEmbeddings(
            # Only used to find matches (an argmax): no gradient needed.
            backbone_feats=F.normalize(feats[-1].detach().flatten(2), dim=1),
            global_proj=F.normalize(proj.global_proj, dim=1),
            dense_proj=F.normalize(proj.dense_proj, dim=1),
            dense_pooled=F.normalize(proj.dense_pooled, dim=1))

    def encode_query(self, images: Tensor) -> ViewEmbeddings:
        """Embed a view with the online encoder (with gradient).

        Args:
            images (Tensor): Shape (N, 3, H_img, W_img).

        Returns:
            ViewEmbeddings: Unit-norm embeddings.
        """
        return self.embed(self.backbone, self.neck, images)

    @torch.no_grad()
    def encode_key(self,
                   images: Tensor,
                   update_momentum: bool = True) -> ViewEmbeddings:
        """Update the momentum encoder, then embed a view with it.

        The batch is shuffled across processes before the forward and
        unshuffled after it, so that BN statistics are computed over a
        random mix of images (MoCo's shuffling BN).

        Args:
            images (Tensor): Shape (N, 3, H_img, W_img).
            update_momentum (bool): Whether to take the step's momentum
                update first. A method that embeds several key views in
                one step updates with the first only, so the key encoder
                moves once a step whatever the number of views.
                Defaults to True.

        Returns:
            ViewEmbeddings: Unit-norm embeddings, without gradient, in the
            order of ``images``.
        """
        if self.encoder_k is None:
            raise RuntimeError(
                'encode_key needs the momentum encoder, but this model was '
                'built with momentum_encoder=False: embed both views with '
                'encode_query (SimCLR style).')
        if update_momentum:
            self.encoder_k.update_parameters(
                nn.Sequential(self.backbone, self.neck))
        shuffled, idx_unshuffle = batch_shuffle(images)
        backbone_k, neck_k = self.encoder_k.module
        keys = self.embed(backbone_k, neck_k, shuffled)
        return type(keys)(*batch_unshuffle(keys, idx_unshuffle))

    def match_dense(self, query: ViewEmbeddings,
                    key: ViewEmbeddings) -> Tensor:
        """Dense positives: for each query location, the key projection at
        the most similar key location (no gradient through the argmax).

        Args:
            query (ViewEmbeddings): Query view embeddings.
            key (ViewEmbeddings): Key view embeddings of the same images.

        Returns:
            Tensor: Matched key projections, shape (N, D, S), with
            ``out[n, :, s] = key.dense_proj[n, :, idx[n, s]]``.
        """
        return gather_locations(key.dense_proj, self.match_index(query, key))

    def matching_features(self, view: ViewEmbeddings) -> Tensor:
        """The unit-norm features that dense matching compares
        (``match_on``): backbone map or dense projection, shape (N, C or D,
        S)."""
        if self.match_on == 'backbone':
            return view.backbone_feats
        return view.dense_proj

    def match_index(self, query: ViewEmbeddings,
                    key: ViewEmbeddings) -> Tensor:
        """Index of the most similar key location for every query location
        (no gradient), shape (N, S), as :meth:`match_dense` uses it."""
        return match_by_similarity(
            self.matching_features(query), self.matching_features(key))

    def global_contrast_loss(self, query: ViewEmbeddings,
                             key: ViewEmbeddings) -> Tensor:
        """DenseCL's global term (MoCo v2): InfoNCE of each global query
        against its key, with the global queue as negatives.

        Args:
            query (ViewEmbeddings): Query view embeddings.
            key (ViewEmbeddings): Key view embeddings of the same images.

        Returns:
            Tensor: Scalar loss (unweighted).
        """
        return self.head.loss(query.global_proj, key.global_proj,
                              self.global_queue.feats)

    def dense_contrast_loss(self, query: ViewEmbeddings,
                            key: ViewEmbeddings) -> Tensor:
        """DenseCL's dense term: InfoNCE of every query location against
        its matched key location (:meth:`match_dense`), with the dense
        queue of pooled keys as negatives.

        Args:
            query (ViewEmbeddings): Query view embeddings.
            key (ViewEmbeddings): Key view embeddings of the same images.

        Returns:
            Tensor: Scalar loss (unweighted).
        """
        return self.head.loss(
            dense_to_rows(query.dense_proj),
            dense_to_rows(self.match_dense(query, key)),
            self.dense_queue.feats)

    def push_keys(self, key: ViewEmbeddings) -> None:
        """Enqueue a step's keys, gathered over processes: global
        projections into the global queue, pooled dense projections into
        the dense queue (after the losses have read them).

        Args:
            key (ViewEmbeddings): Key view embeddings of the step.
        """
        self.global_queue.push(gather_batch(key.global_proj))
        self.dense_queue.push(gather_batch(key.dense_pooled))
