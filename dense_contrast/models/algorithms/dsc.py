"""DSC: instance, pixel and pixel-category contrast on the DenseCL core."""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from dense_contrast.registry import MODELS
from ..utils import (build_module, dense_to_rows, discover_neighbours,
                     gather_batch, gather_locations)
from .base_dense_contrast import BaseDenseContrast

#: Loss terms of DSC, in logging order, and their default weights.
DEFAULT_LOSS_WEIGHTS = dict(single=0.5, dense=0.25, neighbour=0.25,
                            semantic=0.5)


class SemanticViewEmbeddings(NamedTuple):
    """:class:`ViewEmbeddings` plus the semantic pixel embeddings (all
    unit-norm over their channel axis).

    Attributes:
        backbone_feats (Tensor): Last backbone map, detached. (N, C, S).
        global_proj (Tensor): Global projection. (N, D).
        dense_proj (Tensor): Dense projection. (N, D, S).
        dense_pooled (Tensor): Pooled dense projection. (N, D).
        semantic_proj (Tensor): Semantic projection. (N, D, S).
    """
    backbone_feats: Tensor
    global_proj: Tensor
    dense_proj: Tensor
    dense_pooled: Tensor
    semantic_proj: Tensor


@MODELS.register_module()
class DSC(BaseDenseContrast):
    """`Dense Semantic Contrast for Self-Supervised Visual Representation
    Learning <https://arxiv.org/abs/2109.07756>`_ (DSC-KM and DSC-PM).

    No code of the authors is public. This is a reconstruction on the
    DenseCL core (momentum encoder, queues, shuffled BN, matching on
    backbone features); every choice the paper leaves open is an argument.
    Four terms, each weighted by ``loss_weights`` and logged on its own:

    - ``loss_single`` (instance): MoCo v2 InfoNCE, as in DenseCL;
    - ``loss_dense`` (pixel): DenseCL's dense InfoNCE, positive = the key
      location most similar in backbone features, negatives = dense queue;
    - ``loss_neighbour`` (pixel, intra-image relations): the same with a
      *set* of positives, the ``num_neighbours`` key locations most similar
      to the query location (the best match first, the others only above
      ``neighbour_sim_thr`` if set), averaged over the set (the
      multi-positive form of :func:`info_nce`); with ``num_neighbours=1`` it
      equals ``loss_dense``;
    - ``loss_semantic`` (pixel category, inter-image relations): the key
      semantic embeddings of all pixels of the global batch (gathered across
      processes) are grouped into classes by ``semantic_head``, k-means for
      DSC-KM (:class:`KMeansSemanticHead`) or prototypes with Sinkhorn
      equal partition for DSC-PM (:class:`PrototypeSemanticHead`); a query
      pixel takes the class of its matched key pixel and is pulled towards
      that class and pushed from the others.

    Choices where the paper is silent:

    - neighbours are found across the two views, in the matching features
      (``match_on``), among the locations of the same image; they share the
      dense queue's negatives, whose logits are computed once for both
      pixel terms (:meth:`InfoNCEHead.loss_multi_positive`);
    - the semantic embeddings come from their own 1x1-conv head
      (:class:`DenseSemanticNeck`; optionally the dense projection);
    - classes are computed from the key (momentum) side of the current
      global batch every step, no memory across steps;
    - default weights keep DenseCL's balance between instance and pixel
      level (0.5 / 0.5, the pixel half split evenly between the strict
      match and the neighbour set) and add the semantic term with 0.5.

    A term with weight 0 is not computed and not logged: weights
    ``neighbour=0, semantic=0`` give exactly DenseCL's loss.

    Args:
        backbone (dict or nn.Module): Backbone, e.g. ``ResNet``.
        neck (dict or nn.Module): Neck returning
            :class:`SemanticProjections`, e.g. :class:`DenseSemanticNeck`.
        head (dict or nn.Module): :class:`InfoNCEHead` of the instance and
            the two pixel terms (its temperature is theirs).
        semantic_head (dict or nn.Module): :class:`KMeansSemanticHead` or
            :class:`PrototypeSemanticHead` (anything with ``loss(query,
            keys, targets)`` and ``assign(embeddings)``).
        loss_weights (dict, optional): Weights of ``single``, ``dense``,
            ``neighbour`` and ``semantic``; missing ones take
            ``DEFAULT_LOSS_WEIGHTS``. Defaults to None.
        num_neighbours (int): Positives k per query location in the
            neighbour term. Defaults to 3.
        neighbour_sim_thr (float, optional): Minimum cosine similarity of
            the 2nd..k-th neighbours. Defaults to None.
        queue_len (int): Length K of the global and the dense queue.
            Defaults to 65536.
        feat_dim (int): Projection dimension D. Defaults to 128.
        momentum (float): MoCo's momentum m of the key encoder.
            Defaults to 0.999.
        match_on (str): Features that find the matches and the neighbours,
            'backbone' or 'neck'. Defaults to 'backbone'.
        data_preprocessor (dict or nn.Module, optional): Preprocessor.
            Defaults to None (``SelfSupDataPreprocessor``).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None.

    See :class:`BaseDenseContrast` for the shared arguments in detail.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 neck: Union[dict, nn.Module],
                 head: Union[dict, nn.Module],
                 semantic_head: Union[dict, nn.Module],
                 loss_weights: Optional[Dict[str, float]] = None,
                 num_neighbours: int = 3,
                 neighbour_sim_thr: Optional[float] = None,
                 *,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.999,
                 match_on: str = 'backbone',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone, neck, head, queue_len=queue_len, feat_dim=feat_dim,
            momentum=momentum, match_on=match_on,
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(
                f'loss_weights has unknown terms {sorted(unknown)}; expected '
                f'some of {list(DEFAULT_LOSS_WEIGHTS)}')
        self.loss_weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        negative = {k: w for k, w in self.loss_weights.items() if w < 0}
        if negative:
            raise ValueError(f'loss_weights must be >= 0, got {negative}')
        if num_neighbours < 1:
            raise ValueError(
                f'num_neighbours must be >= 1, got {num_neighbours}')
        self.num_neighbours = num_neighbours
        self.neighbour_sim_thr = neighbour_sim_thr
        self.semantic_head = build_module(semantic_head)

    def normalise_embeddings(self, feats: Sequence[Tensor],
                             proj: NamedTuple) -> SemanticViewEmbeddings:
        """Unit-norm embeddings including the semantic projection.

        Args:
            feats (Sequence[Tensor]): Backbone outputs, last (N, C, H, W).
            proj (NamedTuple): :class:`SemanticProjections`.

        Returns:
            SemanticViewEmbeddings: Unit-norm embeddings.
        """
        if not hasattr(proj, 'semantic_proj'):
            raise TypeError(
                f'DSC needs a neck with a semantic_proj output (e.g. '
                f'DenseSemanticNeck), got {type(self.neck).__name__} '
                f'returning {type(proj).__name__}')
        return SemanticViewEmbeddings(
            *super().normalise_embeddings(feats, proj),
            semantic_proj=F.normalize(proj.semantic_proj, dim=1))

    def contrast(self, query: SemanticViewEmbeddings,
                 key: SemanticViewEmbeddings) -> Dict[str, Tensor]:
        """The weighted loss terms for embeddings of two views, against the
        current queues (which this method does not change).

        Args:
            query (SemanticViewEmbeddings): View 1, online encoder.
            key (SemanticViewEmbeddings): View 2, momentum encoder, same
                images in the same order.

        Returns:
            dict[str, Tensor]: ``loss_single``, ``loss_dense``,
            ``loss_neighbour``, ``loss_semantic`` (the terms whose weight is
            not 0), already weighted.
        """
        weights = self.loss_weights
        losses = {}
        if weights['single'] > 0:
            losses['loss_single'] = weights['single'] * \
                self.global_contrast_loss(query, key)
        match = self.match_index(query, key)  # N, S
        # One (N * S, K) product with the dense queue serves both pixel
        # terms: each is a set of positives for the same query rows.
        pixel_terms = {}
        if weights['dense'] > 0:
            pixel_terms['dense'] = (dense_to_rows(
                gather_locations(key.dense_proj, match)), None)
        if weights['neighbour'] > 0:
            pixel_terms['neighbour'] = self._neighbour_positives(query, key)
        if pixel_terms:
            values = self.head.loss_multi_positive(
                dense_to_rows(query.dense_proj), list(pixel_terms.values()),
                self.dense_queue.feats)
            for term, value in zip(pixel_terms, values):
                losses[f'loss_{term}'] = weights[term] * value
        if weights['semantic'] > 0:
            losses['loss_semantic'] = weights['semantic'] * \
                self._semantic_loss(query, key, match)
        return losses

    def _neighbour_positives(
            self, query: SemanticViewEmbeddings,
            key: SemanticViewEmbeddings) -> Tuple[Tensor, Tensor]:
        """The cross-view neighbours of every query location as a set of
        positives.

        Args:
            query (SemanticViewEmbeddings): View 1.
            key (SemanticViewEmbeddings): View 2, same images.

        Returns:
            tuple[Tensor, Tensor]: Key dense projections of the k
            neighbours of each query row, shape (N * S, k, D), and which of
            them count, shape (N * S, k), bool.
        """
        neighbours = discover_neighbours(
            self.matching_features(query), self.matching_features(key),
            self.num_neighbours, self.neighbour_sim_thr)
        num_images, num_locations, k = neighbours.index.shape
        # Location s * k + j of the gathered map is neighbour j of query s.
        vectors = dense_to_rows(
            gather_locations(key.dense_proj, neighbours.index.flatten(1)))
        return (vectors.view(num_images * num_locations, k, -1),
                neighbours.valid.flatten(0, 1))

    def _semantic_loss(self, query: SemanticViewEmbeddings,
                       key: SemanticViewEmbeddings, match: Tensor) -> Tensor:
        """Cross-image semantic term over the global batch.

        Args:
            query, key (SemanticViewEmbeddings): The two views.
            match (Tensor): Matched key location of every query location.
                Shape (N, S).
        """
        num_images, _, num_keys = key.semantic_proj.shape
        all_keys = dense_to_rows(gather_batch(key.semantic_proj))  # B * S', D
        # Row of each matched key pixel in the gathered batch: this
        # process's images come after those of lower ranks.
        image_rows = (get_rank() * num_images + torch.arange(
            num_images, device=match.device)) * num_keys
        targets = (image_rows.unsqueeze(1) + match).flatten()
        return self.semantic_head.loss(
            dense_to_rows(query.semantic_proj), all_keys, targets)

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Losses of one step; pushes this step's keys into the queues.

        Args:
            inputs (list[Tensor]): Two views, each of shape (N, 3, H, W).
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: The weighted terms, see :meth:`contrast`.
        """
        if len(inputs) != 2:
            raise ValueError(
                f'DSC takes two views per image, got {len(inputs)} (set '
                'MultiView num_views=2 in the pipeline)')
        query = self.encode_query(inputs[0])
        key = self.encode_key(inputs[1])
        losses = self.contrast(query, key)
        self.push_keys(key)
        return losses

    @torch.no_grad()
    def assign_clusters(self,
                        inputs: Tensor,
                        out_size: Optional[Tuple[int, int]] = None) -> Tensor:
        """Per-pixel semantic classes of a batch of images, from the
        momentum encoder (the one the classes are computed from in
        training), with batch norm on its running statistics.

        DSC-KM clusters exactly the pixels of ``inputs`` (k-means with the
        head's K, iterations and seed); DSC-PM takes each pixel's most
        similar prototype.

        Args:
            inputs (Tensor): Preprocessed images (as after
                ``model.data_preprocessor``). Shape (N, 3, H_img, W_img).
            out_size (tuple[int, int], optional): If given, the map is
                upsampled (nearest) to this size, e.g. the image size.
                Defaults to None (the feature grid).

        Returns:
            Tensor: Class index per location. Shape (N, H, W), long, where
            (H, W) is the feature grid or ``out_size``.
        """
        encoder = self.encoder_k.module
        was_training = encoder.training
        encoder.eval()
        try:
            backbone_k, neck_k = encoder
            feats = backbone_k(inputs)
            semantic = self.normalise_embeddings(feats,
                                                 neck_k(feats)).semantic_proj
        finally:
            encoder.train(was_training)
        num_images, _, num_locations = semantic.shape
        height, width = feats[-1].shape[-2:]
        if height * width != num_locations:  # the neck re-pooled the grid
            height = width = int(round(num_locations**0.5))
        labels = self.semantic_head.assign(dense_to_rows(semantic))
        labels = labels.view(num_images, height, width)
        if out_size is not None:
            labels = F.interpolate(
                labels.unsqueeze(1).float(), size=tuple(out_size),
                mode='nearest').squeeze(1).long()
        return labels
