"""DSC: instance, pixel and pixel-category contrast on the DenseCL core."""
from typing import (Dict, List, Mapping, NamedTuple, Optional, Sequence,
                    Tuple, Union)

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

    - neighbours are found across the two views of a pair, in the
      matching features (``match_on``), among the locations of the same
      image; they share the dense queue's negatives, whose logits are
      computed once for both pixel terms
      (:meth:`InfoNCEHead.loss_multi_positive`);
    - the semantic embeddings come from their own 1x1-conv head
      (:class:`DenseSemanticNeck`; optionally the dense projection);
    - classes are computed from the key (momentum) side of the current
      global batch every step, no memory across steps;
    - default weights keep DenseCL's balance between instance and pixel
      level (0.5 / 0.5, the pixel half split evenly between the strict
      match and the neighbour set) and add the semantic term with 0.5.

    Views: the pipeline gives V >= 2 views of each image (``MultiView``
    ``num_views``; 2 in the configs). Every term is averaged over the
    ordered view pairs (query view i, key view j) of :meth:`view_pairs`:

    - ``symmetric=False`` (default): view 0 is the only query, views
      1..V-1 the keys, pairs (0, j); with two views this is DenseCL's one
      direction;
    - ``symmetric=True``: every view is a query and a key, every ordered
      pair (i, j) with i != j; with two views, (0, 1) and (1, 0). Each
      extra query view costs an online forward and backward.

    The momentum encoder is updated once a step, before the first key view;
    each key view is a batch of its own (its own shuffled BN), and so is
    each query view. The semantic classes are formed once a step, over the
    key pixels of every key view of the global batch, and each query pixel
    takes the class of its matched pixel in its pair's key view. One key per
    image enters each queue a step, that of view 1, so the queues span as
    many past images as DenseCL's whatever V and ``symmetric``.

    DSC equals DenseCL with ``loss_lambda=lambda`` (the loss, every gradient
    and the queues; tested) when it is one-directional with two views,
    ``semantic=0``, ``single=1 - lambda``, and the pixel weight is lambda:
    either ``dense=lambda, neighbour=0``, or ``dense + neighbour = lambda``
    with a neighbour set that is only the best match (``num_neighbours=1``,
    or ``neighbour_sim_thr`` above 1; the two pixel terms are then the same
    InfoNCE, logged as two parts). The default weights (``dense=0.25``,
    ``num_neighbours=3``) are not such a case. A term with weight 0 is not
    computed and not logged.

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
        symmetric (bool): Whether every view is contrasted as a query
            against every other view as a key (True), or only view 0
            against the others (False). Defaults to False.
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
                 symmetric: bool = False,
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
        self.symmetric = symmetric
        self.semantic_head = build_module(semantic_head)

    def view_pairs(self, num_views: int) -> List[Tuple[int, int]]:
        """The ordered (query view, key view) pairs of a step.

        Args:
            num_views (int): Views V per image, >= 2.

        Returns:
            list[tuple[int, int]]: ``(0, j)`` for j = 1..V-1, or with
            ``symmetric`` every ``(i, j)`` with i != j, i major.
        """
        if num_views < 2:
            raise ValueError(
                f'DSC takes at least two views per image, got {num_views} '
                '(set MultiView num_views in the pipeline)')
        queries = range(num_views) if self.symmetric else [0]
        return [(i, j) for i in queries for j in range(num_views) if i != j]

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
        """The weighted loss terms of one query view against one key view,
        against the current queues (which this method does not change).

        Args:
            query (SemanticViewEmbeddings): Query view, online encoder.
            key (SemanticViewEmbeddings): Key view, momentum encoder, same
                images in the same order.

        Returns:
            dict[str, Tensor]: See :meth:`contrast_views`.
        """
        return self.contrast_views({0: query}, {1: key}, [(0, 1)])

    def contrast_views(self, queries: Mapping[int, SemanticViewEmbeddings],
                       keys: Mapping[int, SemanticViewEmbeddings],
                       pairs: Sequence[Tuple[int, int]]) -> Dict[str, Tensor]:
        """The weighted loss terms, each averaged over view pairs, against
        the current queues (which this method does not change).

        Args:
            queries (Mapping[int, SemanticViewEmbeddings]): Query views by
                view index, online encoder.
            keys (Mapping[int, SemanticViewEmbeddings]): Key views by view
                index, momentum encoder, same images in the same order.
            pairs (Sequence[tuple[int, int]]): (query view, key view)
                pairs, e.g. :meth:`view_pairs`.

        Returns:
            dict[str, Tensor]: ``loss_single``, ``loss_dense``,
            ``loss_neighbour``, ``loss_semantic`` (the terms whose weight is
            not 0), already weighted.
        """
        weights = self.loss_weights
        terms: Dict[str, List[Tensor]] = {t: [] for t in weights}
        matches = []
        for i, j in pairs:
            query, key = queries[i], keys[j]
            if weights['single'] > 0:
                terms['single'].append(self.global_contrast_loss(query, key))
            match = self.match_index(query, key)  # N, S
            matches.append(match)
            # One (N * S, K) product with the dense queue serves both pixel
            # terms: each is a set of positives for the same query rows.
            pixel_terms = {}
            if weights['dense'] > 0:
                pixel_terms['dense'] = (dense_to_rows(
                    gather_locations(key.dense_proj, match)), None)
            if weights['neighbour'] > 0:
                pixel_terms['neighbour'] = self._neighbour_positives(
                    query, key)
            if pixel_terms:
                values = self.head.loss_multi_positive(
                    dense_to_rows(query.dense_proj),
                    list(pixel_terms.values()), self.dense_queue.feats)
                for term, value in zip(pixel_terms, values):
                    terms[term].append(value)
        if weights['semantic'] > 0:
            terms['semantic'].append(
                self._semantic_loss(queries, keys, pairs, matches))
        return {
            f'loss_{term}': weights[term] * (sum(values) / len(values))
            for term, values in terms.items() if values
        }

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

    def _semantic_loss(self, queries: Mapping[int, SemanticViewEmbeddings],
                       keys: Mapping[int, SemanticViewEmbeddings],
                       pairs: Sequence[Tuple[int, int]],
                       matches: Sequence[Tensor]) -> Tensor:
        """Cross-image semantic term over the global batch: one set of
        classes from the key pixels of every key view of ``pairs``, one
        loss over the query pixels of every pair (so a stateful head, e.g.
        :class:`PrototypeSemanticHead`, takes one step a step).

        Args:
            queries, keys (Mapping[int, SemanticViewEmbeddings]): The
                views, as in :meth:`contrast_views`.
            pairs (Sequence[tuple[int, int]]): (query view, key view) pairs.
            matches (Sequence[Tensor]): Matched key location of every query
                location, one per pair. Each of shape (N, S).

        Returns:
            Tensor: Scalar loss (unweighted), the mean over the query pixels
            of all pairs.
        """
        key_views = sorted({j for _, j in pairs})
        blocks, first_row = [], {}
        rows = 0
        for j in key_views:
            # B * S', D: every process's images, in rank order.
            blocks.append(dense_to_rows(gather_batch(keys[j].semantic_proj)))
            first_row[j] = rows
            rows += blocks[-1].shape[0]
        query_rows, targets = [], []
        for (i, j), match in zip(pairs, matches):
            num_images, _, num_keys = keys[j].semantic_proj.shape
            # Row of each matched key pixel: this process's images come
            # after those of lower ranks, inside view j's block.
            images = get_rank() * num_images + torch.arange(
                num_images, device=match.device)
            image_rows = first_row[j] + images * num_keys
            targets.append((image_rows.unsqueeze(1) + match).flatten())
            query_rows.append(dense_to_rows(queries[i].semantic_proj))
        return self.semantic_head.loss(
            torch.cat(query_rows), torch.cat(blocks), torch.cat(targets))

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Losses of one step; pushes this step's keys into the queues.

        Args:
            inputs (list[Tensor]): V >= 2 views, each of shape
                (N, 3, H, W) (the sizes may differ between views).
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: The weighted terms, each averaged over the
            view pairs, see :meth:`contrast_views`.
        """
        pairs = self.view_pairs(len(inputs))
        sizes = {view.shape[0] for view in inputs}
        if len(sizes) != 1:
            raise ValueError(
                'DSC needs the same images in every view, got views of '
                f'{[view.shape[0] for view in inputs]} images')
        query_views = sorted({i for i, _ in pairs})
        key_views = sorted({j for _, j in pairs})
        queries = {i: self.encode_query(inputs[i]) for i in query_views}
        keys = {
            j: self.encode_key(inputs[j], update_momentum=(n == 0))
            for n, j in enumerate(key_views)
        }
        losses = self.contrast_views(queries, keys, pairs)
        self.push_keys(keys[1])
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
