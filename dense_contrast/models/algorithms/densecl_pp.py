"""DenseCL++: DenseCL with dense negatives across images, cross-view dense
pairs and an auxiliary reconstruction task."""
from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from mmengine.dist import broadcast, get_rank
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from dense_contrast.registry import MODELS
from ..utils import (FeatureQueue, build_module, dense_to_rows, gather_batch,
                     gather_batch_with_grad, gather_locations)
from .base_dense_contrast import BaseDenseContrast, ViewEmbeddings

FRAMEWORKS = ('moco', 'simclr')
DENSE_NEGATIVE_MODES = ('all', 'random_k', 'queue')
#: How the dense terms are weighted (see :meth:`DenseCLPP.dense_weights`).
DENSE_WEIGHTINGS = ('replace', 'shared', 'additive')


def _split(view: ViewEmbeddings,
           num: int) -> Tuple[ViewEmbeddings, ViewEmbeddings]:
    """Split embeddings of two concatenated views at image ``num``."""
    return (type(view)(*(t[:num] for t in view)),
            type(view)(*(t[num:] for t in view)))


class DenseBank(NamedTuple):
    """Dense key vectors of the global batch used as negatives, with where
    each one comes from.

    Attributes:
        feats (Tensor): Unit-norm vectors. Shape (K, D).
        image (Tensor): Global index of the image. Shape (K,).
        view (Tensor): View of the vector, 0 or 1. Shape (K,).
        location (Tensor): Location in the grid, in [0, S). Shape (K,).
    """
    feats: Tensor
    image: Tensor
    view: Tensor
    location: Tensor


@MODELS.register_module()
class DenseCLPP(BaseDenseContrast):
    """`DenseCL++: Improving Dense Contrastive Learning with Dense Negative
    Pairs <https://arxiv.org/abs/2210.05063>`_ (a reconstruction).

    No code was released and only the abstract could be read, so every
    mechanism below is this project's reading; each choice is an argument.
    The model is DenseCL with three parts, each a switch:

    - ``loss_single``: DenseCL's global term, weighted ``1 - loss_lambda``.
    - ``loss_dense``: DenseCL's dense term, view-1 queries against their
      matched view-2 keys. With the three parts off and ``framework='moco'``
      the losses equal :class:`DenseCL`'s (tested, in every weighting).
    - (i) ``dense_negatives``: the negatives of the dense term become
      *dense* key vectors of the other images of the global batch instead
      of pooled ones: ``'all'`` every location of every other image,
      ``'random_k'`` a random subset of ``num_dense_negatives`` locations
      of the gathered batch (the same on every process; locations of the
      query's own image are excluded), or ``'queue'`` a FIFO of single
      dense keys, ``dense_enqueue_per_image`` random locations of each
      image per step (MoCo only).
    - (ii) ``cross_view`` -> ``loss_dense_xview``: the dense term in the
      other direction too (view-2 queries against their matched view-1
      keys, so the dense positives become symmetric), with negatives from
      *both* views of the other images: dense vectors under the mode of (i)
      if it is on, otherwise pooled ones (the dense queue for MoCo, the
      pooled in-batch projections for SimCLR).
    - (iii) ``reconstruction`` -> ``loss_rec`` (``rec_weight``): ``rec_head``
      reconstructs every view that the online encoder embedded from its
      last backbone map.

    ``dense_weighting`` says how (i) and (ii) enter the loss
    (:meth:`dense_weights` gives the weight of every dense term):

    - ``'replace'`` (default): the parts change DenseCL's dense term instead
      of adding terms. (i) swaps its negatives (``loss_dense`` itself uses
      the dense negatives); (ii) adds the reverse direction, and the two
      directions share ``loss_lambda`` (``loss_dense`` and
      ``loss_dense_xview`` weighted ``loss_lambda / 2`` each), with the
      negatives of both views in both directions. The total dense weight
      is ``loss_lambda`` in every ablation row, so rows differ only in what
      the dense term contrasts.
    - ``'shared'``: DenseCL's pooled-negative term is kept and each part
      adds its own term (``loss_dense_neg`` for (i), ``loss_dense_xview``
      for (ii)); all dense terms share ``loss_lambda`` equally.
    - ``'additive'``: as ``'shared'``, but the parts' terms are added with
      their own weights ``dense_neg_weight`` and ``xview_weight`` on top of
      DenseCL's ``loss_lambda``: more parts means more dense weight, so
      ablation rows are not comparable in this form.

    ``same_image_negatives`` adds, to every dense term, the non-matched
    locations of the positive's view of the query's own image as
    negatives: the cross-view dense negatives within an image pair. Off by
    default: most of them lie on the same object or the same background
    as the query and its positive, so they are likely false negatives.
    Otherwise the query's own image is never a negative.

    Two frameworks:

    - ``'moco'`` (default): the shared core's momentum key encoder,
      shuffled BN and queues, exactly as DenseCL. With ``cross_view`` both
      views go through the online encoder (and both through the key
      encoder) in one concatenated batch.
    - ``'simclr'``: the paper's baseline family. No momentum encoder and no
      queues: both views go through the online encoder in one batch and
      serve as keys for each other, with gradient. ``loss_single`` is
      SimCLR's symmetric NT-Xent; negatives are the other images of the
      global batch, both views, gathered across processes with gradient
      (:func:`gather_batch_with_grad`). DenseCL's dense term uses the
      pooled dense projections of the other images as negatives.

    Memory. N images per process, B in the global batch, S grid locations,
    D projection dim. The dense-negative terms materialise per process one
    (N * S) x K logit matrix, its gradient and a (N * S) x K boolean mask,
    with K = V * B * S for ``'all'`` (V = 1 for (i), 2 for (ii)): quadratic
    in the grid size S and proportional to N * B, e.g. 1,568 x 12,544 (79 MB
    in fp32) for (i) at N = 32, B = 256, 224 px; K = ``num_dense_negatives``
    for ``'random_k'`` (independent of B, apart from the gathered B * S * D
    vectors it samples from); K = ``dense_queue_len`` for ``'queue'``.
    No (B * S) x (B * S) matrix is ever built: each process only scores its
    own queries.

    Args:
        backbone (dict or nn.Module): Backbone, e.g. ``ResNet``.
        neck (dict or nn.Module): Neck returning :class:`DenseProjections`,
            e.g. :class:`DenseProjectionNeck`.
        head (dict or nn.Module): :class:`MaskedInfoNCEHead` (the
            dense-negative and SimCLR terms exclude negatives per query);
            SimCLR's temperature is usually 0.1.
        queue_len (int): Length K of the global and the dense queue (MoCo
            only). Defaults to 65536.
        feat_dim (int): Projection dimension D. Defaults to 128.
        momentum (float): MoCo's momentum m of the key encoder (MoCo only).
            Defaults to 0.999.
        match_on (str): Features that find the dense positives, 'backbone'
            or 'neck'. Defaults to 'backbone'.
        data_preprocessor (dict or nn.Module, optional): Preprocessor.
            Defaults to None (``SelfSupDataPreprocessor``).
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None.
        framework (str): ``'moco'`` or ``'simclr'``. Defaults to 'moco'.
        loss_lambda (float): DenseCL's weight of the dense term.
            Defaults to 0.5.
        dense_negatives (str, optional): Part (i): ``'all'``,
            ``'random_k'`` or ``'queue'``; None turns it off.
            Defaults to None.
        cross_view (bool): Part (ii). Defaults to False.
        reconstruction (bool): Part (iii). Defaults to False.
        dense_weighting (str): ``'replace'``, ``'shared'`` or
            ``'additive'`` (see above). Defaults to 'replace'.
        dense_neg_weight (float): Weight of ``loss_dense_neg`` with
            ``dense_weighting='additive'`` (unused otherwise).
            Defaults to 0.5.
        xview_weight (float): Weight of ``loss_dense_xview`` with
            ``dense_weighting='additive'`` (unused otherwise).
            Defaults to 0.5.
        rec_weight (float): Weight of ``loss_rec``. Defaults to 0.1.
        num_dense_negatives (int): K of ``'random_k'``. Defaults to 4096.
        dense_queue_len (int): Length of the queue of ``'queue'``.
            Defaults to 65536.
        dense_enqueue_per_image (int): Locations per image pushed into
            that queue each step. Defaults to 4.
        same_image_negatives (bool): See above. Defaults to False.
        rec_head (dict or nn.Module, optional): Decoder of part (iii), e.g.
            :class:`ImageReconstructionHead`; needed if ``reconstruction``.
            Defaults to None.

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
                 framework: str = 'moco',
                 loss_lambda: float = 0.5,
                 dense_negatives: Optional[str] = None,
                 cross_view: bool = False,
                 reconstruction: bool = False,
                 dense_weighting: str = 'replace',
                 dense_neg_weight: float = 0.5,
                 xview_weight: float = 0.5,
                 rec_weight: float = 0.1,
                 num_dense_negatives: int = 4096,
                 dense_queue_len: int = 65536,
                 dense_enqueue_per_image: int = 4,
                 same_image_negatives: bool = False,
                 rec_head: Optional[Union[dict, nn.Module]] = None) -> None:
        if framework not in FRAMEWORKS:
            raise ValueError(
                f'framework must be one of {FRAMEWORKS}, got {framework!r}')
        if dense_negatives not in (None, *DENSE_NEGATIVE_MODES):
            raise ValueError(
                'dense_negatives must be None or one of '
                f'{DENSE_NEGATIVE_MODES}, got {dense_negatives!r}')
        if dense_weighting not in DENSE_WEIGHTINGS:
            raise ValueError(f'dense_weighting must be one of '
                             f'{DENSE_WEIGHTINGS}, got {dense_weighting!r}')
        if dense_negatives == 'queue' and framework != 'moco':
            raise ValueError("dense_negatives='queue' needs framework='moco' "
                             '(SimCLR keeps no queues)')
        if not 0.0 <= loss_lambda <= 1.0:
            raise ValueError(
                f'loss_lambda must be in [0, 1], got {loss_lambda}')
        if reconstruction and rec_head is None:
            raise ValueError('reconstruction=True needs a rec_head config, '
                             "e.g. dict(type='ImageReconstructionHead', "
                             'in_channels=2048)')
        for name, value in (('num_dense_negatives', num_dense_negatives),
                            ('dense_enqueue_per_image',
                             dense_enqueue_per_image)):
            if value <= 0:
                raise ValueError(f'{name} must be > 0, got {value}')
        super().__init__(
            backbone, neck, head, queue_len=queue_len, feat_dim=feat_dim,
            momentum=momentum, match_on=match_on,
            data_preprocessor=data_preprocessor, init_cfg=init_cfg,
            momentum_encoder=framework == 'moco')
        self.framework = framework
        self.loss_lambda = loss_lambda
        self.dense_negatives = dense_negatives
        self.cross_view = cross_view
        self.reconstruction = reconstruction
        self.dense_weighting = dense_weighting
        self.dense_neg_weight = dense_neg_weight
        self.xview_weight = xview_weight
        self.rec_weight = rec_weight
        self.num_dense_negatives = num_dense_negatives
        self.dense_enqueue_per_image = dense_enqueue_per_image
        self.same_image_negatives = same_image_negatives
        self.rec_head = build_module(rec_head) if reconstruction else None
        self.dense_vector_queue = (
            FeatureQueue(feat_dim, dense_queue_len)
            if dense_negatives == 'queue' else None)

    # ------------------------------------------------------------- encoding
    def _encode_online(
            self, views: List[Tensor]) -> Tuple[List[ViewEmbeddings], Tensor]:
        """Embed views with the online encoder in one batch; also return the
        last backbone map (with gradient) for the reconstruction head."""
        num = views[0].shape[0]
        feats = self.backbone(torch.cat(views))
        embedded = self.normalise_embeddings(feats, self.neck(feats))
        if len(views) == 1:
            return [embedded], feats[-1]
        return list(_split(embedded, num)), feats[-1]

    def _encode(self, view1: Tensor, view2: Tensor) -> dict:
        """Online embeddings ``q1`` (and ``q2``) and keys ``k1`` (if needed)
        and ``k2`` of both views, plus the online views and their maps."""
        if self.framework == 'simclr':
            (q1, q2), c5 = self._encode_online([view1, view2])
            return dict(q1=q1, q2=q2, k1=q1, k2=q2, c5=c5,
                        online=[view1, view2])
        if not self.cross_view:
            (q1, ), c5 = self._encode_online([view1])
            return dict(q1=q1, k2=self.encode_key(view2), c5=c5,
                        online=[view1])
        (q1, q2), c5 = self._encode_online([view1, view2])
        k2, k1 = _split(self.encode_key(torch.cat([view2, view1])),
                        view1.shape[0])
        return dict(q1=q1, q2=q2, k1=k1, k2=k2, c5=c5, online=[view1, view2])

    def _gather(self, x: Tensor) -> Tensor:
        """Gather over processes: keys without gradient for MoCo, online
        embeddings with gradient for SimCLR."""
        if self.framework == 'simclr':
            return gather_batch_with_grad(x)
        return gather_batch(x)

    def _image_ids(self, num: int, device: torch.device) -> Tensor:
        """Global indices of this process's images (equal per-process
        batches, as ``drop_last=True`` guarantees). Shape (num,)."""
        return get_rank() * num + torch.arange(num, device=device)

    # ------------------------------------------------------------ negatives
    def _pooled_bank(self, q1: ViewEmbeddings,
                     q2: ViewEmbeddings) -> Tuple[Tensor, Tensor]:
        """SimCLR's in-batch negatives for the dense term: pooled dense
        projections of both views of the global batch.

        Returns:
            tuple[Tensor, Tensor]: Vectors (2B, D) and their images (2B,).
        """
        pooled = self._gather(
            torch.stack([q1.dense_pooled, q2.dense_pooled], dim=1))  # B,2,D
        images = torch.arange(
            pooled.shape[0], device=pooled.device).repeat_interleave(2)
        return pooled.flatten(0, 1), images

    def _sample(self, total: int, device: torch.device) -> Optional[Tensor]:
        """Indices of ``num_dense_negatives`` random columns out of
        ``total``, drawn on rank 0 and broadcast (None: keep all)."""
        if self.num_dense_negatives >= total:
            return None
        idx = torch.randperm(total, device=device)[:self.num_dense_negatives]
        broadcast(idx, src=0)
        return idx

    def dense_bank(self, views: List[Tensor], view_ids: List[int],
                   mode: str) -> DenseBank:
        """Dense vectors of the global batch that can serve as negatives.

        Args:
            views (list[Tensor]): Dense keys of one or two views, each of
                shape (N, D, S).
            view_ids (list[int]): The view (0 or 1) of each.
            mode (str): ``'all'`` or ``'random_k'``.

        Returns:
            DenseBank: Every location of every image of every given view for
            ``'all'``, a subset of ``num_dense_negatives`` for
            ``'random_k'``.
        """
        dense = self._gather(torch.stack(views, dim=1))  # B, V, D, S
        batch, num_views, _, grid = dense.shape
        device = dense.device
        feats = dense_to_rows(dense.flatten(0, 1))  # B * V * S, D
        # Row-major over (image, view, location), as ``feats``.
        image = torch.arange(batch, device=device).repeat_interleave(
            num_views * grid)
        view = torch.tensor(view_ids, device=device).repeat_interleave(
            grid).repeat(batch)
        location = torch.arange(grid, device=device).repeat(batch * num_views)
        bank = DenseBank(feats, image, view, location)
        if mode == 'random_k':
            idx = self._sample(feats.shape[0], device)
            if idx is not None:
                bank = DenseBank(*(t[idx] for t in bank))
        return bank

    def exclusion(self, query_image: Tensor, positive_location: Tensor,
                  positive_view: int, bank: DenseBank) -> Tensor:
        """Which bank vectors are not negatives of which query.

        Args:
            query_image (Tensor): Global image of each query row. Shape (M,).
            positive_location (Tensor): Location of each query's positive.
                Shape (M,).
            positive_view (int): View of the positives.
            bank (DenseBank): Candidate negatives (K of them).

        Returns:
            Tensor: Shape (M, K), bool: True for the query's own image
            (except, with ``same_image_negatives``, its non-matched
            locations in the positive's view).
        """
        same = query_image[:, None] == bank.image[None, :]
        if self.same_image_negatives:
            admitted = ((bank.view == positive_view)[None, :]
                        & (positive_location[:, None]
                           != bank.location[None, :]))
            same = same & ~admitted
        return same

    def same_image_negatives_of(self, key: ViewEmbeddings,
                                positive_location: Tensor
                                ) -> Tuple[Tensor, Tensor]:
        """The non-matched locations of the positive's view of each query's
        own image, as extra negatives (``same_image_negatives`` with pooled
        or queued negatives, whose banks hold no location of this batch).

        Args:
            key (ViewEmbeddings): Keys of the positive's view, this
                process's N images; dense projections of shape (N, D, S).
            positive_location (Tensor): Location of each query's positive,
                queries image-major. Shape (N, S_q).

        Returns:
            tuple[Tensor, Tensor]: The vectors, every location of every
            local image, shape (N * S, D), and which of them are not
            negatives of which query, shape (N * S_q, N * S), bool:
            ``exclude[n * S_q + s, m * S + t]`` is False only for m = n and
            t != ``positive_location[n, s]``.
        """
        num, _, grid = key.dense_proj.shape
        device = key.dense_proj.device
        column_image = torch.arange(num, device=device).repeat_interleave(
            grid)
        column_location = torch.arange(grid, device=device).repeat(num)
        query_image = torch.arange(num, device=device).repeat_interleave(
            positive_location.shape[1])
        admitted = ((query_image[:, None] == column_image[None, :])
                    & (positive_location.flatten()[:, None]
                       != column_location[None, :]))
        return dense_to_rows(key.dense_proj), ~admitted

    def _dense_loss(self, query: ViewEmbeddings, key: ViewEmbeddings,
                    negatives: str, bank_views: Dict[int, ViewEmbeddings],
                    positive_view: int,
                    pooled: Optional[Tuple[Tensor, Tensor]]) -> Tensor:
        """Dense InfoNCE of ``query`` against its matched ``key`` locations
        with negatives from other images.

        Args:
            query (ViewEmbeddings): Online embeddings of one view.
            key (ViewEmbeddings): Keys of the other view, same images.
            negatives (str): ``'pooled'`` (DenseCL's kind) or a mode of
                ``dense_negatives``.
            bank_views (dict[int, ViewEmbeddings]): Keys of view 0 and/or 1
                whose dense vectors are the negatives of ``'all'`` and
                ``'random_k'``.
            positive_view (int): View of ``key``.
            pooled (tuple, optional): SimCLR's pooled in-batch negatives and
                their images (None for MoCo, which uses its dense queue).

        Returns:
            Tensor: Scalar loss (unweighted).
        """
        if (negatives == 'pooled' and pooled is None
                and not self.same_image_negatives):
            # MoCo: DenseCL's term, pooled keys of past images.
            return self.dense_contrast_loss(query, key)
        idx = self.match_index(query, key)  # N, S
        queries = dense_to_rows(query.dense_proj)
        positives = dense_to_rows(gather_locations(key.dense_proj, idx))
        num, _, grid = query.dense_proj.shape
        query_image = self._image_ids(
            num, queries.device).repeat_interleave(grid)
        if negatives in ('all', 'random_k'):
            bank = self.dense_bank(
                [v.dense_proj for v in bank_views.values()],
                list(bank_views), negatives)
            return self.head.loss(
                queries, positives, bank.feats.t(),
                self.exclusion(query_image, idx.flatten(), positive_view,
                               bank))
        exclude = None
        if negatives == 'queue':
            feats = self.dense_vector_queue.feats
        elif pooled is None:  # MoCo: DenseCL's pooled keys of past images
            feats = self.dense_queue.feats
        else:  # SimCLR: pooled in-batch projections
            feats, images = pooled
            feats = feats.t()
            exclude = query_image[:, None] == images[None, :]
        if self.same_image_negatives:
            extra, extra_exclude = self.same_image_negatives_of(key, idx)
            if exclude is None:
                exclude = extra_exclude.new_zeros(
                    (queries.shape[0], feats.shape[1]))
            feats = torch.cat([feats, extra.t().to(feats.dtype)], dim=1)
            exclude = torch.cat([exclude, extra_exclude], dim=1)
        if exclude is None:  # any InfoNCEHead will do
            return self.head.loss(queries, positives, feats)
        return self.head.loss(queries, positives, feats, exclude)

    # ----------------------------------------------------------------- loss
    def _global_loss(self, enc: dict) -> Tensor:
        """DenseCL's global term (MoCo) or SimCLR's symmetric NT-Xent."""
        q1, k2 = enc['q1'], enc['k2']
        if self.framework == 'moco':
            return self.global_contrast_loss(q1, k2)
        q2 = enc['q2']
        queries = torch.cat([q1.global_proj, q2.global_proj])  # 2N, D
        positives = torch.cat([q2.global_proj, q1.global_proj])
        bank = self._gather(
            torch.stack([q1.global_proj, q2.global_proj], dim=1)).flatten(0, 1)
        bank_image = torch.arange(
            bank.shape[0] // 2, device=bank.device).repeat_interleave(2)
        query_image = self._image_ids(q1.global_proj.shape[0],
                                      bank.device).repeat(2)
        return self.head.loss(queries, positives, bank.t(),
                              query_image[:, None] == bank_image[None, :])

    def dense_weights(self) -> Dict[str, float]:
        """Weight of every dense loss term that is on, by its logged name
        (read at every step, so a schedule of ``loss_lambda`` applies).

        Returns:
            dict[str, float]: ``loss_dense`` and, for the parts that add
            terms, ``loss_dense_neg`` and ``loss_dense_xview``. Their sum is
            ``loss_lambda`` with ``dense_weighting`` ``'replace'`` or
            ``'shared'``, whichever parts are on.
        """
        lam = self.loss_lambda
        if self.dense_weighting == 'replace':
            if self.cross_view:
                return dict(loss_dense=lam / 2, loss_dense_xview=lam / 2)
            return dict(loss_dense=lam)
        weights = dict(loss_dense=lam)
        if self.dense_negatives is not None:
            weights['loss_dense_neg'] = self.dense_neg_weight
        if self.cross_view:
            weights['loss_dense_xview'] = self.xview_weight
        if self.dense_weighting == 'shared':
            weights = {name: lam / len(weights) for name in weights}
        return weights

    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """Losses of one step; pushes this step's keys into the queues.

        Args:
            inputs (list[Tensor]): Two views, each of shape (N, 3, H, W).
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss_single``, the dense terms of
            :meth:`dense_weights` and, with ``reconstruction``,
            ``loss_rec``; each already weighted.
        """
        if len(inputs) != 2 or inputs[0].shape != inputs[1].shape:
            raise ValueError(
                'DenseCLPP needs two views of the same shape (MultiView with '
                f'num_views=2), got {[tuple(x.shape) for x in inputs]}')
        view1, view2 = inputs
        enc = self._encode(view1, view2)
        q1, k2 = enc['q1'], enc['k2']
        pooled = (self._pooled_bank(q1, enc['q2'])
                  if self.framework == 'simclr' else None)

        weights = self.dense_weights()
        part_negatives = self.dense_negatives or 'pooled'
        both_views = {0: enc['k1'], 1: k2} if self.cross_view else {1: k2}
        losses = dict(
            loss_single=(1 - self.loss_lambda) * self._global_loss(enc))
        if self.dense_weighting == 'replace':
            # DenseCL's term with the parts' negatives (both views' with
            # (ii)).
            losses['loss_dense'] = weights['loss_dense'] * self._dense_loss(
                q1, k2, part_negatives, both_views, 1, pooled)
        else:
            losses['loss_dense'] = weights['loss_dense'] * self._dense_loss(
                q1, k2, 'pooled', {}, 1, pooled)
        if 'loss_dense_neg' in weights:
            losses['loss_dense_neg'] = weights['loss_dense_neg'] * \
                self._dense_loss(q1, k2, self.dense_negatives, {1: k2}, 1,
                                 pooled)
        if 'loss_dense_xview' in weights:
            losses['loss_dense_xview'] = weights['loss_dense_xview'] * \
                self._dense_loss(enc['q2'], enc['k1'], part_negatives,
                                 both_views, 0, pooled)
        if self.reconstruction:
            losses['loss_rec'] = self.rec_weight * self.rec_head.loss(
                enc['c5'], torch.cat(enc['online']))
        if self.framework == 'moco':
            self._push_keys(k2)
        return losses

    @torch.no_grad()
    def _push_keys(self, key: ViewEmbeddings) -> None:
        """Enqueue the step's keys (after the losses read the queues):
        :meth:`push_keys`, plus single dense keys for ``'queue'``."""
        self.push_keys(key)
        if self.dense_vector_queue is not None:
            num, _, grid = key.dense_proj.shape
            count = min(self.dense_enqueue_per_image, grid)
            picked = torch.rand(num, grid, device=key.dense_proj.device)
            picked = picked.argsort(dim=1)[:, :count]  # N, count
            self.dense_vector_queue.push(
                gather_batch(dense_to_rows(gather_locations(key.dense_proj,
                                                    picked))))
