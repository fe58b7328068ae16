"""Dense nearest-neighbour retrieval in the protocol of Hummingbird.

`Towards In-context Scene Understanding
<https://arxiv.org/abs/2306.01667>`_ (Balažević et al., NeurIPS 2023)
scores a frozen encoder by how well its patch features retrieve labels:

1. a memory bank is filled with patch features of augmented training
   images (``augment_epochs`` passes of random crops and flips), each with
   the label of its patch, optionally subsampled to ``memory_size`` rows;
2. every patch of a validation image takes the softmax-weighted vote of its
   ``k`` nearest memory rows (cosine similarity, weights
   ``softmax(similarity / temperature)`` over the k neighbours; the paper's
   k = 30 and temperature 0.02 are the defaults);
3. the votes are upsampled to the label resolution and scored by mIoU.

A patch's label is the class proportions of its pixels, as for the other
probes (see :mod:`dense_contrast.evaluation.dense_probes`), and the vote is
:func:`~.knn.knn_vote`, searched by torch in chunks or by faiss when it is
installed (:func:`~.knn.knn_search`).

Shape letters: N images, C channels, K classes, h x w a feature grid,
H x W the label resolution, S the side of an image, M memory rows.
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from dense_contrast.registry import METRICS

from .cells import check_pair, to_cells, to_grid
from .correspondence import crop_views, recolour, sample_view_pairs
from .features import extract_dense_features
from .knn import KNN_BACKENDS, knn_vote
from .segmentation_probe import SegmentationProbe

__all__ = ['augment_images', 'DenseRetrievalProbe']


def augment_images(images: Tensor,
                   labels: Tensor,
                   seed: int,
                   size: Optional[int] = None,
                   area_range: Tuple[float, float] = (0.3, 1.0),
                   flip_prob: float = 0.5,
                   photometric: bool = False) -> Tuple[Tensor, Tensor]:
    """One seeded augmentation of images and their label maps.

    A random crop (area fraction in ``area_range``, aspect ratio in
    [3/4, 4/3], :func:`~.correspondence.sample_view_pairs`), resized to
    ``size`` (images bilinear, labels nearest), mirrored left-right with
    probability ``flip_prob`` and, with ``photometric``, recoloured
    (:func:`~.correspondence.recolour`).

    Args:
        images (Tensor): uint8 images, shape (N, 3, S, S).
        labels (Tensor): Label maps of the same size, shape (N, S, S).
        seed (int): Seed of the crops, flips and colours.
        size (int, optional): Output side. Defaults to None (S).
        area_range (tuple[float, float]): Crop area fraction. Defaults to
            (0.3, 1.0).
        flip_prob (float): Mirror probability. Defaults to 0.5.
        photometric (bool): Also recolour. Defaults to False.

    Returns:
        tuple[Tensor, Tensor]: Images as float in [0, 255], shape
        (N, 3, size, size), and labels, shape (N, size, size), with the
        dtype of ``labels``.
    """
    if images.shape[-2:] != labels.shape[-2:] or len(images) != len(labels):
        raise ValueError(
            f'augment_images: images {tuple(images.shape)} and labels '
            f'{tuple(labels.shape)} must share N, H and W')
    size = size or images.shape[-1]
    geometry = sample_view_pairs(
        len(images), seed, tuple(area_range), min_overlap=0.0,
        flip_prob=flip_prob)
    views = crop_views(images.float(), geometry.box1, size, geometry.flip2)
    label_views = crop_views(
        labels[:, None].float(), geometry.box1, size, geometry.flip2,
        mode='nearest')[:, 0].round().to(labels.dtype)
    if photometric:
        views = recolour(views, seed)
    return views, label_views


@METRICS.register_module()
class DenseRetrievalProbe(SegmentationProbe):
    """Hummingbird's dense nearest-neighbour retrieval (see the module
    docstring): a memory of patch features from augmented training images,
    each validation patch labelled by the softmax-weighted vote of its
    ``k`` nearest memory rows, mIoU at label resolution.

    It needs the backbone and the training images (to augment them), not
    only their features: :class:`DenseProbeSuite` calls it with both
    (``needs_backbone``). :meth:`score_memory` scores a memory that is
    already built.

    Memory: the training images are augmented and encoded ``batch_size``
    at a time; each augmented image contributes at most
    ``ceil(memory_size / (N * augment_epochs))`` labelled patches, drawn
    at random (seeded), so the memory never holds more than about
    ``memory_size`` rows of C floats. The vote holds
    ``chunk_size x memory rows`` similarities at a time.

    Args:
        num_classes (int): Number of classes K.
        k (int): Neighbours. Defaults to 30 (the paper's).
        temperature (float): Softmax temperature of the vote. Defaults to
            0.02 (the paper's).
        memory_size (int, optional): Largest number of memory rows.
            Defaults to None (every labelled patch of every augmented
            image).
        augment_epochs (int): Augmented passes over the training images.
            Defaults to 1.
        area_range (tuple[float, float]): Crop area fraction of the
            augmentation. Defaults to (0.3, 1.0).
        flip_prob (float): Mirror probability. Defaults to 0.5.
        photometric (bool): Also recolour the augmented images. Defaults
            to False.
        chunk_size (int): Queries per search step. Defaults to 2048.
        backend (str): Search backend (:data:`~.knn.KNN_BACKENDS`):
            'auto' uses faiss when it is installed. Defaults to 'auto'.
        seed (int): Seed of the augmentation and the sampling. Defaults to
            0.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        prefix (str): Prefix of the result keys. Defaults to 'retrieval'.
    """

    #: Called with the backbone and the training images (see
    #: :class:`DenseProbeSuite`).
    needs_backbone = True

    def __init__(self,
                 num_classes: int,
                 k: int = 30,
                 temperature: float = 0.02,
                 memory_size: Optional[int] = None,
                 augment_epochs: int = 1,
                 area_range: Tuple[float, float] = (0.3, 1.0),
                 flip_prob: float = 0.5,
                 photometric: bool = False,
                 chunk_size: int = 2048,
                 backend: str = 'auto',
                 seed: int = 0,
                 ignore_index: int = 255,
                 prefix: str = 'retrieval') -> None:
        super().__init__(num_classes, ignore_index, prefix)
        if k < 1 or temperature <= 0 or chunk_size < 1 or \
                augment_epochs < 1:
            raise ValueError(
                'DenseRetrievalProbe needs k >= 1, temperature > 0, '
                f'chunk_size >= 1 and augment_epochs >= 1; got k={k}, '
                f'temperature={temperature}, chunk_size={chunk_size}, '
                f'augment_epochs={augment_epochs}')
        if memory_size is not None and memory_size < 1:
            raise ValueError(f'memory_size must be >= 1, got {memory_size}')
        if backend not in KNN_BACKENDS:
            raise ValueError(f'backend must be one of {KNN_BACKENDS}, got '
                             f'{backend!r}')
        self.k = k
        self.temperature = temperature
        self.memory_size = memory_size
        self.augment_epochs = augment_epochs
        self.area_range = tuple(area_range)
        self.flip_prob = flip_prob
        self.photometric = photometric
        self.chunk_size = chunk_size
        self.backend = backend
        self.seed = seed

    def memory_rows(self, feats: Tensor, labels: Tensor,
                    quota: Optional[int],
                    generator: torch.Generator) -> Tuple[Tensor, Tensor]:
        """Memory rows of one batch: labelled patches, at most ``quota``
        per image, drawn at random.

        Args:
            feats (Tensor): Features, shape (N, C, h, w).
            labels (Tensor): Label maps, shape (N, H, W).
            quota (int, optional): Patches kept per image (None: all).
            generator (torch.Generator): Source of the draw.

        Returns:
            tuple[Tensor, Tensor]: Features (M, C) and class proportions
            (M, K) of the kept patches.
        """
        check_pair(feats, labels, 'DenseRetrievalProbe')
        props = self.cell_proportions(feats, labels)  # (N * h * w, K)
        cells = to_cells(feats)
        per_image = feats.shape[-2] * feats.shape[-1]
        keep = []
        for i in range(len(feats)):
            rows = torch.nonzero(
                props[i * per_image:(i + 1) * per_image].sum(1) > 0)[:, 0]
            if quota is not None and len(rows) > quota:
                rows = rows[torch.randperm(len(rows),
                                           generator=generator)[:quota]]
            keep.append(rows + i * per_image)
        keep = torch.cat(keep)
        return cells[keep], props[keep]

    @torch.no_grad()
    def build_memory(self,
                     backbone: nn.Module,
                     images: Tensor,
                     labels: Tensor,
                     mean: Sequence[float],
                     std: Sequence[float],
                     stage: Optional[int] = None,
                     img_scale: Optional[int] = None,
                     batch_size: int = 32) -> Tuple[Tensor, Tensor]:
        """Encode ``augment_epochs`` augmented passes of the training images
        into the memory bank.

        Args:
            backbone (nn.Module): The frozen backbone (left unchanged).
            images (Tensor): uint8 images in the channel order the backbone
                expects, shape (N, 3, S, S).
            labels (Tensor): Label maps, shape (N, S, S).
            mean (Sequence[float]): Normalisation mean.
            std (Sequence[float]): Normalisation std.
            stage (int, optional): Backbone stage read. Defaults to None.
            img_scale (int, optional): Side of the augmented images.
                Defaults to None (S).
            batch_size (int): Images per forward. Defaults to 32.

        Returns:
            tuple[Tensor, Tensor]: Memory features (M, C) and class
            proportions (M, K).
        """
        quota = None
        if self.memory_size is not None:
            quota = math.ceil(self.memory_size /
                              (len(images) * self.augment_epochs))
        generator = torch.Generator().manual_seed(self.seed)
        feats, props = [], []
        for epoch in range(self.augment_epochs):
            for start in range(0, len(images), batch_size):
                aug_imgs, aug_labels = augment_images(
                    images[start:start + batch_size],
                    labels[start:start + batch_size],
                    seed=self.seed + 100003 * epoch + start,
                    size=img_scale,
                    area_range=self.area_range,
                    flip_prob=self.flip_prob,
                    photometric=self.photometric)
                batch_feats = extract_dense_features(
                    backbone, aug_imgs, mean, std, stage=stage,
                    batch_size=batch_size)
                rows, row_props = self.memory_rows(batch_feats, aug_labels,
                                                   quota, generator)
                feats.append(rows)
                props.append(row_props)
        feats, props = torch.cat(feats), torch.cat(props)
        if self.memory_size is not None and len(feats) > self.memory_size:
            keep = torch.randperm(len(feats),
                                  generator=generator)[:self.memory_size]
            feats, props = feats[keep], props[keep]
        if len(feats) == 0:
            raise ValueError('DenseRetrievalProbe: every training pixel is '
                             'ignored; the memory is empty')
        return feats, props

    def predict_memory(self, memory: Tensor, memory_labels: Tensor,
                       val_feats: Tensor) -> Tensor:
        """Votes of the memory for every validation patch.

        Args:
            memory (Tensor): Memory features, shape (M, C).
            memory_labels (Tensor): Their class proportions, shape (M, K).
            val_feats (Tensor): Shape (N, C, h, w).

        Returns:
            Tensor: Vote proportions, shape (N, K, h, w).
        """
        votes = knn_vote(memory, memory_labels, to_cells(val_feats), self.k,
                         self.temperature, self.chunk_size, self.backend)
        return to_grid(votes, val_feats)

    @torch.no_grad()
    def score_memory(self, memory: Tensor, memory_labels: Tensor,
                     val_feats: Tensor, val_labels: Tensor
                     ) -> Dict[str, float]:
        """Score a built memory on a labelled split.

        Args:
            memory (Tensor): Memory features, shape (M, C).
            memory_labels (Tensor): Their class proportions, shape (M, K).
            val_feats (Tensor): Shape (N, C, h, w).
            val_labels (Tensor): Shape (N, H, W).

        Returns:
            dict[str, float]: ``{prefix}_mIoU`` and ``{prefix}_aAcc`` in
            percent.
        """
        check_pair(val_feats, val_labels, 'DenseRetrievalProbe')
        return self.score(
            self.predict_memory(memory, memory_labels, val_feats), val_labels)

    def __call__(self,
                 backbone: nn.Module,
                 train_images: Tensor,
                 train_labels: Tensor,
                 val_feats: Tensor,
                 val_labels: Tensor,
                 mean: Sequence[float],
                 std: Sequence[float],
                 stage: Optional[int] = None,
                 img_scale: Optional[int] = None,
                 batch_size: int = 32) -> Dict[str, float]:
        """Build the memory from the training images and score the
        validation features.

        Args:
            backbone (nn.Module): The frozen backbone (left unchanged).
            train_images (Tensor): uint8 images in the channel order the
                backbone expects, shape (N1, 3, S, S).
            train_labels (Tensor): Shape (N1, S, S).
            val_feats (Tensor): Features of the validation images, read as
                the training images are (same stage and scale), shape
                (N2, C, h, w).
            val_labels (Tensor): Shape (N2, H, W).
            mean (Sequence[float]): Normalisation mean.
            std (Sequence[float]): Normalisation std.
            stage (int, optional): Backbone stage read. Defaults to None.
            img_scale (int, optional): Side of the augmented images.
                Defaults to None.
            batch_size (int): Images per forward. Defaults to 32.

        Returns:
            dict[str, float]: ``{prefix}_mIoU`` and ``{prefix}_aAcc`` in
            percent.
        """
        memory, memory_labels = self.build_memory(
            backbone, train_images, train_labels, mean, std, stage,
            img_scale, batch_size)
        return self.score_memory(memory, memory_labels, val_feats,
                                 val_labels)
