"""Dense probes: how well a frozen backbone's feature map separates classes
pixel by pixel.

Two probes score a feature map against semantic labels:

- :class:`DenseLinearProbe`: a 1x1 convolution (a per-location linear
  classifier) fitted on a labelled split, mIoU on another split;
- :class:`DenseKNNProbe`: every location of the second split takes the
  labels of its k most similar locations of the first split (cosine
  similarity), mIoU of that vote.

:class:`DenseProbeSuite` loads the two labelled splits once, extracts the
features of a backbone and runs a list of probes; the pretraining hook
(:class:`dense_contrast.engine.DenseProbeHook`) and ``tools/study.py`` use it.

Resolution (one rule for both probes): the probes *fit* at the resolution
of the feature map and *score* at the resolution of the labels.

- Fitting targets are the labels downsampled to the feature grid as class
  proportions: each feature cell gets the fraction of its pixels in each
  class (area-weighted average pooling of one-hot labels, ignored pixels
  left out). The linear probe minimises the cross-entropy against these
  soft targets, weighted by the fraction of labelled pixels in the cell;
  the k-NN bank stores them as its labels. This keeps fitting cheap (one
  row per cell, not per pixel) and uses every labelled pixel.
- Scores (linear logits, k-NN vote proportions) are upsampled bilinearly to
  the label resolution and the argmax is compared with the full-resolution
  labels. A bilinear upsampling of the scores of a linear classifier equals
  the classifier applied to bilinearly upsampled features (interpolation is
  linear and its weights sum to one), so the linear probe scores what a
  classifier on upsampled features would.

mIoU follows mmseg's ``IoUMetric``: one confusion matrix over the whole
split, IoU per class, classes absent from both labels and predictions are
left out of the mean (NaN).

Shape letters: N images, C channels, K classes, h x w a feature grid,
H x W the label resolution, M bank rows, Q query rows.
"""
import contextlib
import json
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from dense_contrast.registry import METRICS

__all__ = [
    'label_proportions', 'segmentation_confusion', 'miou_from_confusion',
    'knn_vote', 'extract_dense_features', 'load_segmentation_split',
    'DenseLinearProbe', 'DenseKNNProbe', 'DenseProbeSuite'
]

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')


# ---------------------------------------------------------------------------
# Label resampling and scoring
# ---------------------------------------------------------------------------


def label_proportions(labels: Tensor,
                      grid: Tuple[int, int],
                      num_classes: int,
                      ignore_index: int = 255) -> Tensor:
    """Downsample label maps to a feature grid as class proportions.

    Cell ``(i, j)`` of the grid covers the pixels that adaptive average
    pooling assigns to it; its value for class ``k`` is the fraction of
    those pixels labelled ``k``. Pixels labelled ``ignore_index`` count in
    no class, so the proportions of a cell sum to its labelled fraction
    (1 when no pixel is ignored, 0 when all are).

    Args:
        labels (Tensor): Integer label maps, shape (N, H, W); values in
            ``[0, num_classes)`` or ``ignore_index``.
        grid (tuple[int, int]): Target size (h, w).
        num_classes (int): Number of classes K.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.

    Returns:
        Tensor: Proportions, shape (N, K, h, w), float32.

    Raises:
        ValueError: If a label is neither a class nor ``ignore_index``.
    """
    _check_labels(labels, num_classes, ignore_index)
    valid = labels != ignore_index
    one_hot = F.one_hot(
        torch.where(valid, labels, 0).long(), num_classes).permute(0, 3, 1, 2)
    one_hot = one_hot.float() * valid.unsqueeze(1)
    return F.adaptive_avg_pool2d(one_hot, grid)


def _check_labels(labels: Tensor, num_classes: int, ignore_index: int) -> None:
    if labels.dim() != 3:
        raise ValueError('labels must have shape (N, H, W), got '
                         f'{tuple(labels.shape)}')
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(
            f'labels hold {labels[bad].unique().tolist()}, outside the '
            f'classes [0, {num_classes}) and ignore_index={ignore_index}')


def segmentation_confusion(scores: Tensor,
                           labels: Tensor,
                           num_classes: int,
                           ignore_index: int = 255,
                           chunk_images: int = 16) -> Tensor:
    """Confusion matrix of upsampled class scores against label maps.

    Scores are upsampled bilinearly to the label resolution
    (``align_corners=False``) and the argmax is taken per pixel; images are
    processed in chunks to bound memory.

    Args:
        scores (Tensor): Class scores, shape (N, K, h, w); any monotone
            scale (logits, probabilities, votes).
        labels (Tensor): Label maps, shape (N, H, W).
        num_classes (int): Number of classes K.
        ignore_index (int): Label of pixels left out. Defaults to 255.
        chunk_images (int): Images upsampled at once. Defaults to 16.

    Returns:
        Tensor: ``conf[t, p]`` = number of pixels of class ``t`` predicted
        as ``p``, shape (K, K), int64.
    """
    if scores.shape[0] != labels.shape[0] or scores.shape[1] != num_classes:
        raise ValueError(
            f'scores of shape {tuple(scores.shape)} do not fit labels of '
            f'shape {tuple(labels.shape)} and {num_classes} classes')
    _check_labels(labels, num_classes, ignore_index)
    conf = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    for start in range(0, scores.shape[0], chunk_images):
        chunk = scores[start:start + chunk_images].float()
        target = labels[start:start + chunk_images]
        if chunk.shape[-2:] != target.shape[-2:]:
            chunk = F.interpolate(
                chunk,
                size=target.shape[-2:],
                mode='bilinear',
                align_corners=False)
        pred = chunk.argmax(dim=1)
        valid = target != ignore_index
        conf += torch.bincount(
            target[valid].long() * num_classes + pred[valid],
            minlength=num_classes * num_classes)
    return conf.view(num_classes, num_classes)


def miou_from_confusion(conf: Tensor) -> Dict[str, Union[float, List]]:
    """mIoU, per-class IoU and pixel accuracy of a confusion matrix.

    Args:
        conf (Tensor): Confusion matrix, shape (K, K), rows = labels.

    Returns:
        dict: ``mIoU`` and ``aAcc`` in percent (floats; NaN when no pixel
        is labelled), ``IoU``: per-class IoU in percent (NaN for a class
        absent from labels and predictions).
    """
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1),
                      torch.full_like(tp, float('nan')))
    present = ~iou.isnan()
    miou = iou[present].mean().item() if present.any() else float('nan')
    total = conf.sum().item()
    aacc = tp.sum().item() / total if total > 0 else float('nan')
    return dict(
        mIoU=100.0 * miou,
        aAcc=100.0 * aacc,
        IoU=[100.0 * v for v in iou.tolist()])


# ---------------------------------------------------------------------------
# Probes on feature maps
# ---------------------------------------------------------------------------


def _cells(feats: Tensor) -> Tensor:
    """(N, C, h, w) -> (N * h * w, C), one row per cell."""
    return feats.permute(0, 2, 3, 1).flatten(0, 2)


def _grid(rows: Tensor, like: Tensor) -> Tensor:
    """(N * h * w, K) -> (N, K, h, w) on the grid of ``like`` (N, C, h, w)."""
    n, _, h, w = like.shape
    return rows.view(n, h, w, -1).permute(0, 3, 1, 2)


def _check_pair(feats: Tensor, labels: Tensor, name: str) -> None:
    if feats.dim() != 4 or labels.dim() != 3 or len(feats) != len(labels):
        raise ValueError(
            f'{name}: expected features (N, C, h, w) and labels (N, H, W) '
            f'with the same N, got {tuple(feats.shape)} and '
            f'{tuple(labels.shape)}')


@METRICS.register_module()
class DenseLinearProbe:
    """Linear probe on a frozen dense feature map: a 1x1 convolution.

    Fitting (full batch, so the result depends on the data only: zero
    initial weights, no sampling): the channels are standardised with the
    mean and standard deviation of the fitting cells (a frozen BatchNorm,
    so that backbones whose features differ in scale are probed alike),
    then ``steps`` Adam steps minimise the cross-entropy between the
    per-cell class scores and the cells' class proportions (see the module
    docstring), each cell weighted by its labelled fraction. The scores of
    the evaluation split are upsampled to its label resolution for the
    mIoU.

    Args:
        num_classes (int): Number of classes K (background included).
        steps (int): Optimiser steps. Defaults to 100.
        lr (float): Adam learning rate. Defaults to 0.1.
        weight_decay (float): L2 penalty on the weights (not the bias).
            Defaults to 1e-4.
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        prefix (str): Prefix of the result keys. Defaults to 'linear'.
    """

    def __init__(self,
                 num_classes: int,
                 steps: int = 100,
                 lr: float = 0.1,
                 weight_decay: float = 1e-4,
                 ignore_index: int = 255,
                 prefix: str = 'linear') -> None:
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        if steps < 1 or lr <= 0 or weight_decay < 0:
            raise ValueError('DenseLinearProbe needs steps >= 1, lr > 0 and '
                             f'weight_decay >= 0; got steps={steps}, lr={lr},'
                             f' weight_decay={weight_decay}')
        self.num_classes = num_classes
        self.steps = steps
        self.lr = lr
        self.weight_decay = weight_decay
        self.ignore_index = ignore_index
        self.prefix = prefix

    def fit(self, feats: Tensor, labels: Tensor) -> nn.Conv2d:
        """Fit the classifier.

        Args:
            feats (Tensor): Features, shape (N, C, h, w).
            labels (Tensor): Labels, shape (N, H, W).

        Returns:
            nn.Conv2d: A 1x1 convolution C -> K with the standardisation
            folded in, to apply to raw features.
        """
        _check_pair(feats, labels, 'DenseLinearProbe.fit')
        target = _cells(
            label_proportions(labels, feats.shape[-2:], self.num_classes,
                              self.ignore_index))  # (M, K)
        mass = target.sum(1)  # labelled fraction of each cell
        keep = mass > 0
        x = _cells(feats.float())[keep]
        target, mass = target[keep], mass[keep]
        if len(x) == 0:
            raise ValueError('DenseLinearProbe.fit: every pixel is ignored')
        mean = x.mean(0)
        std = x.std(0, unbiased=False).clamp(min=1e-6)
        x = (x - mean) / std

        weight = torch.zeros(self.num_classes, x.shape[1], requires_grad=True)
        bias = torch.zeros(self.num_classes, requires_grad=True)
        optimizer = torch.optim.Adam([weight, bias], lr=self.lr)
        # Soft targets normalised per cell; the cell's labelled fraction
        # becomes its weight in the mean.
        soft = target / mass[:, None]
        cell_weight = mass / mass.sum()
        with torch.enable_grad():
            for _ in range(self.steps):
                logits = torch.addmm(bias, x, weight.t())
                loss = -(cell_weight *
                         (soft * logits.log_softmax(1)).sum(1)).sum()
                loss = loss + 0.5 * self.weight_decay * weight.square().sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

        # Fold the standardisation into the convolution.
        conv = nn.Conv2d(x.shape[1], self.num_classes, 1)
        with torch.no_grad():
            folded = weight / std
            conv.weight.copy_(folded[:, :, None, None])
            conv.bias.copy_(bias - folded @ mean)
        return conv

    @torch.no_grad()
    def __call__(self, train_feats: Tensor, train_labels: Tensor,
                 val_feats: Tensor, val_labels: Tensor) -> Dict[str, float]:
        """Fit on one split, score on the other.

        Args:
            train_feats (Tensor): Shape (N1, C, h, w).
            train_labels (Tensor): Shape (N1, H, W).
            val_feats (Tensor): Shape (N2, C, h', w').
            val_labels (Tensor): Shape (N2, H', W').

        Returns:
            dict[str, float]: ``{prefix}_mIoU`` and ``{prefix}_aAcc`` in
            percent.
        """
        _check_pair(val_feats, val_labels, 'DenseLinearProbe')
        conv = self.fit(train_feats, train_labels)
        scores = conv(val_feats.float())
        result = miou_from_confusion(
            segmentation_confusion(scores, val_labels, self.num_classes,
                                   self.ignore_index))
        return {
            f'{self.prefix}_mIoU': result['mIoU'],
            f'{self.prefix}_aAcc': result['aAcc']
        }


def knn_vote(bank: Tensor,
             bank_labels: Tensor,
             queries: Tensor,
             k: int = 20,
             temperature: float = 0.07,
             chunk_size: int = 2048) -> Tensor:
    """Class votes of each query from its k most similar bank rows.

    Similarity is the cosine (rows are L2-normalised here). Each of the k
    neighbours votes with its label vector (one-hot or class proportions)
    weighted by ``exp(similarity / temperature)``, as in the k-NN monitor
    of DINO; ``temperature=inf`` gives equal weights. Queries are processed
    in chunks of ``chunk_size`` rows (one matmul and one ``topk`` each), so
    memory stays at ``chunk_size x M``.

    Args:
        bank (Tensor): Bank features, shape (M, C).
        bank_labels (Tensor): Label vectors of the bank, shape (M, K).
        queries (Tensor): Query features, shape (Q, C).
        k (int): Neighbours per query (at most M are used). Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        chunk_size (int): Queries per matmul. Defaults to 2048.

    Returns:
        Tensor: Votes normalised to sum to 1 per query, shape (Q, K).
    """
    if bank.dim() != 2 or queries.dim() != 2 or \
            bank.shape[1] != queries.shape[1]:
        raise ValueError(
            f'knn_vote: bank (M, C) and queries (Q, C) must share C, got '
            f'{tuple(bank.shape)} and {tuple(queries.shape)}')
    if bank_labels.dim() != 2 or len(bank_labels) != len(bank):
        raise ValueError(
            f'knn_vote: bank_labels must have shape (M={len(bank)}, K), got '
            f'{tuple(bank_labels.shape)}')
    if k < 1 or temperature <= 0:
        raise ValueError(
            f'knn_vote: need k >= 1 and temperature > 0, got k={k}, '
            f'temperature={temperature}')
    k = min(k, len(bank))
    bank = F.normalize(bank.float(), dim=1)
    bank_labels = bank_labels.float()
    votes = []
    for start in range(0, len(queries), chunk_size):
        chunk = F.normalize(queries[start:start + chunk_size].float(), dim=1)
        sim, idx = (chunk @ bank.t()).topk(k, dim=1)  # (q, k)
        weight = (sim / temperature).exp() if np.isfinite(temperature) \
            else torch.ones_like(sim)
        # (q, k, 1) * (q, k, K) summed over the neighbours.
        votes.append((weight.unsqueeze(2) * bank_labels[idx]).sum(1))
    votes = torch.cat(votes) if votes else queries.new_zeros(
        0, bank_labels.shape[1])
    return votes / votes.sum(1, keepdim=True).clamp(min=1e-12)


@METRICS.register_module()
class DenseKNNProbe:
    """Dense k-NN retrieval: label each location of the evaluation split by
    its nearest locations of the fitting split.

    The bank holds every feature cell of the fitting split that has
    labelled pixels, with its class proportions as label (see the module
    docstring). Each evaluation cell gets the weighted vote of its ``k``
    most similar bank cells (:func:`knn_vote`); the votes are upsampled to
    the label resolution for the mIoU. ``max_bank`` keeps an evenly spaced
    subset of the bank (deterministic) to bound the cost.

    Args:
        num_classes (int): Number of classes K.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        chunk_size (int): Queries per matmul. Defaults to 2048.
        max_bank (int, optional): Largest bank. Defaults to None (all).
        ignore_index (int): Label of unlabelled pixels. Defaults to 255.
        prefix (str): Prefix of the result keys. Defaults to 'knn'.
    """

    def __init__(self,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 chunk_size: int = 2048,
                 max_bank: Optional[int] = None,
                 ignore_index: int = 255,
                 prefix: str = 'knn') -> None:
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2, got {num_classes}')
        if k < 1 or temperature <= 0 or chunk_size < 1:
            raise ValueError(
                'DenseKNNProbe needs k >= 1, temperature > 0 and '
                f'chunk_size >= 1; got k={k}, temperature={temperature}, '
                f'chunk_size={chunk_size}')
        if max_bank is not None and max_bank < 1:
            raise ValueError(f'max_bank must be >= 1, got {max_bank}')
        self.num_classes = num_classes
        self.k = k
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.max_bank = max_bank
        self.ignore_index = ignore_index
        self.prefix = prefix

    def build_bank(self, feats: Tensor,
                   labels: Tensor) -> Tuple[Tensor, Tensor]:
        """Bank rows and their class proportions.

        Args:
            feats (Tensor): Shape (N, C, h, w).
            labels (Tensor): Shape (N, H, W).

        Returns:
            tuple[Tensor, Tensor]: Features (M, C) and proportions (M, K).
        """
        _check_pair(feats, labels, 'DenseKNNProbe')
        props = _cells(
            label_proportions(labels, feats.shape[-2:], self.num_classes,
                              self.ignore_index))
        keep = props.sum(1) > 0
        bank, props = _cells(feats)[keep], props[keep]
        if self.max_bank is not None and len(bank) > self.max_bank:
            idx = torch.linspace(0, len(bank) - 1, self.max_bank).long()
            bank, props = bank[idx], props[idx]
        return bank, props

    @torch.no_grad()
    def __call__(self, train_feats: Tensor, train_labels: Tensor,
                 val_feats: Tensor, val_labels: Tensor) -> Dict[str, float]:
        """Retrieve from one split, score on the other.

        Args:
            train_feats (Tensor): Shape (N1, C, h, w).
            train_labels (Tensor): Shape (N1, H, W).
            val_feats (Tensor): Shape (N2, C, h', w').
            val_labels (Tensor): Shape (N2, H', W').

        Returns:
            dict[str, float]: ``{prefix}_mIoU`` and ``{prefix}_aAcc`` in
            percent.
        """
        _check_pair(val_feats, val_labels, 'DenseKNNProbe')
        bank, bank_labels = self.build_bank(train_feats, train_labels)
        votes = knn_vote(bank, bank_labels, _cells(val_feats), self.k,
                         self.temperature, self.chunk_size)
        result = miou_from_confusion(
            segmentation_confusion(
                _grid(votes, val_feats), val_labels, self.num_classes,
                self.ignore_index))
        return {
            f'{self.prefix}_mIoU': result['mIoU'],
            f'{self.prefix}_aAcc': result['aAcc']
        }


# ---------------------------------------------------------------------------
# Data and feature extraction
# ---------------------------------------------------------------------------


def load_segmentation_split(
        data_root: str,
        split: str,
        num_images: Optional[int] = None,
        img_dir: str = 'images',
        seg_dir: str = 'semantic') -> Tuple[Tensor, Tensor, List[str]]:
    """Read the first images of a split and their label maps.

    Layout (the toy scenes one): ``{data_root}/{split}/{img_dir}/NAME.png``
    and ``{data_root}/{split}/{seg_dir}/NAME.png`` (uint8 labels), matched
    by file stem, in sorted order.

    Args:
        data_root (str): Data folder.
        split (str): Split folder, e.g. 'train'.
        num_images (int, optional): Read the first ``num_images`` only.
            Defaults to None (all).
        img_dir (str): Image subfolder. Defaults to 'images'.
        seg_dir (str): Label subfolder. Defaults to 'semantic'.

    Returns:
        tuple: Images (N, 3, H, W) uint8 RGB, labels (N, H, W) int64 and
        the image file names.

    Raises:
        FileNotFoundError: If a folder or a label file is missing.
        ValueError: If the images differ in size or do not match their
            labels.
    """
    img_folder = osp.join(data_root, split, img_dir)
    seg_folder = osp.join(data_root, split, seg_dir)
    for folder in (img_folder, seg_folder):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'Dense probe data: no folder {folder!r}. Expected '
                f'{{data_root}}/{{split}}/{img_dir}/ and '
                f'{{data_root}}/{{split}}/{seg_dir}/ (toy scenes: '
                'python tools/generate_toyscenes.py).')
    names = sorted(n for n in os.listdir(img_folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS))
    if num_images is not None:
        if len(names) < num_images:
            raise ValueError(
                f'Dense probe data: {img_folder!r} holds {len(names)} '
                f'images, fewer than the {num_images} requested')
        names = names[:num_images]
    if not names:
        raise FileNotFoundError(f'Dense probe data: no images in '
                                f'{img_folder!r}')
    images, labels = [], []
    for name in names:
        seg_path = osp.join(seg_folder, osp.splitext(name)[0] + '.png')
        if not osp.isfile(seg_path):
            raise FileNotFoundError(
                f'Dense probe data: no label map {seg_path!r} for image '
                f'{name!r}')
        with Image.open(osp.join(img_folder, name)) as img:
            images.append(np.asarray(img.convert('RGB')))
        with Image.open(seg_path) as seg:
            labels.append(np.asarray(seg))
        if images[-1].shape[:2] != labels[-1].shape[:2] or \
                images[-1].shape != images[0].shape:
            raise ValueError(
                f'Dense probe data: {name!r} has image size '
                f'{images[-1].shape[:2]} and label size '
                f'{labels[-1].shape[:2]}; all images and labels of a split '
                f'must share one size (first: {images[0].shape[:2]})')
    return (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2),
            torch.from_numpy(np.stack(labels).astype(np.int64)), names)


@contextlib.contextmanager
def _output_stage(backbone: nn.Module, stage: Optional[int]) -> Iterator:
    """Make ``backbone`` return stage ``stage`` last (via ``out_indices``,
    the attribute mmpretrain/mmdet/mmseg ResNets read in ``forward``)."""
    if stage is None:
        yield
        return
    if not hasattr(backbone, 'out_indices'):
        raise TypeError(
            f'stage={stage} needs a backbone with an out_indices attribute '
            f'(e.g. ResNet); {type(backbone).__name__} has none. Use '
            'stage=None for its last output.')
    saved = backbone.out_indices
    backbone.out_indices = (stage, )
    try:
        yield
    finally:
        backbone.out_indices = saved


@torch.no_grad()
def extract_dense_features(backbone: nn.Module,
                           images: Tensor,
                           mean: Sequence[float],
                           std: Sequence[float],
                           stage: Optional[int] = None,
                           img_scale: Optional[int] = None,
                           batch_size: int = 32) -> Tensor:
    """Feature maps of a frozen backbone (eval mode, no gradient).

    The backbone's training mode is restored afterwards.

    Args:
        backbone (nn.Module): Returns a tensor or a sequence of maps.
        images (Tensor): uint8 images, shape (N, 3, H, W), in the channel
            order the backbone expects.
        mean (Sequence[float]): Per-channel mean of the normalisation.
        std (Sequence[float]): Per-channel std of the normalisation.
        stage (int, optional): Stage to read (``out_indices`` index, e.g.
            3 for ResNet's layer4). Defaults to None: the last output.
        img_scale (int, optional): Resize images (bilinear) to this side
            first. Defaults to None.
        batch_size (int): Images per forward. Defaults to 32.

    Returns:
        Tensor: Features, shape (N, C, h, w), float32.
    """
    device = next(backbone.parameters()).device
    mean_t = torch.as_tensor(mean, dtype=torch.float32,
                             device=device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32,
                            device=device).view(1, -1, 1, 1)
    was_training = backbone.training
    backbone.eval()
    feats = []
    try:
        with _output_stage(backbone, stage):
            for start in range(0, len(images), batch_size):
                x = images[start:start + batch_size].to(device).float()
                if img_scale is not None:
                    x = F.interpolate(
                        x, size=(img_scale, img_scale), mode='bilinear',
                        align_corners=False)
                out = backbone((x - mean_t) / std_t)
                if isinstance(out, (list, tuple)):
                    out = out[-1]
                feats.append(out.float().cpu())
    finally:
        backbone.train(was_training)
    return torch.cat(feats)


def _num_classes_from_meta(data_root: str) -> int:
    meta_path = osp.join(data_root, 'meta.json')
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if 'seg_classes' in meta:
            return len(meta['seg_classes'])
    raise ValueError(
        f'DenseProbeSuite: num_classes not given and {meta_path!r} has no '
        "'seg_classes' list; pass num_classes")


class DenseProbeSuite:
    """Score backbones with dense probes on two labelled splits.

    The splits are read once, on the first call, and kept in memory (uint8
    images and labels). Each call extracts the features of both splits and
    runs every probe on them.

    Args:
        data_root (str): Data folder (see :func:`load_segmentation_split`).
        probes (Sequence[dict]): Probe configs built from
            :data:`dense_contrast.registry.METRICS`; ``num_classes`` is
            filled in when absent. Defaults to a linear and a k-NN probe.
        train_split (str): Split the probes fit on. Defaults to 'train'.
        val_split (str): Split they are scored on. Defaults to 'val'.
        num_train (int, optional): Images of ``train_split`` used.
            Defaults to 200.
        num_val (int, optional): Images of ``val_split`` used.
            Defaults to 100.
        num_classes (int, optional): Classes (background included).
            Defaults to None: the length of ``seg_classes`` in
            ``{data_root}/meta.json``.
        stage (int, optional): Backbone stage probed. Defaults to None (the
            backbone's last output).
        img_scale (int, optional): Resize images to this side before the
            backbone. Defaults to None.
        batch_size (int): Images per forward. Defaults to 32.
    """

    def __init__(self,
                 data_root: str,
                 probes: Sequence[dict] = (dict(type='DenseLinearProbe'),
                                           dict(type='DenseKNNProbe')),
                 train_split: str = 'train',
                 val_split: str = 'val',
                 num_train: Optional[int] = 200,
                 num_val: Optional[int] = 100,
                 num_classes: Optional[int] = None,
                 stage: Optional[int] = None,
                 img_scale: Optional[int] = None,
                 batch_size: int = 32) -> None:
        self.data_root = data_root
        self.probe_cfgs = [dict(cfg) for cfg in probes]
        if not self.probe_cfgs:
            raise ValueError('DenseProbeSuite: probes is empty')
        self.train_split = train_split
        self.val_split = val_split
        self.num_train = num_train
        self.num_val = num_val
        self.num_classes = num_classes
        self.stage = stage
        self.img_scale = img_scale
        self.batch_size = batch_size
        self._data: Optional[Tuple[Tensor, Tensor, Tensor, Tensor]] = None
        self._probes: Optional[list] = None

    def _load(self) -> None:
        if self.num_classes is None:
            self.num_classes = _num_classes_from_meta(self.data_root)
        train_imgs, train_labels, _ = load_segmentation_split(
            self.data_root, self.train_split, self.num_train)
        val_imgs, val_labels, _ = load_segmentation_split(
            self.data_root, self.val_split, self.num_val)
        self._data = (train_imgs, train_labels, val_imgs, val_labels)
        self._probes = [
            METRICS.build({'num_classes': self.num_classes, **cfg})
            for cfg in self.probe_cfgs
        ]

    def __call__(self,
                 backbone: nn.Module,
                 mean: Sequence[float],
                 std: Sequence[float],
                 bgr: bool = False) -> Dict[str, float]:
        """Probe a backbone.

        Args:
            backbone (nn.Module): The backbone (left unchanged).
            mean (Sequence[float]): Normalisation mean of its inputs.
            std (Sequence[float]): Normalisation std of its inputs.
            bgr (bool): Whether it expects BGR input (images are read as
                RGB). Defaults to False.

        Returns:
            dict[str, float]: The results of every probe, merged.
        """
        if self._data is None:
            self._load()
        train_imgs, train_labels, val_imgs, val_labels = self._data
        order = [2, 1, 0] if bgr else [0, 1, 2]
        extract = dict(
            mean=mean,
            std=std,
            stage=self.stage,
            img_scale=self.img_scale,
            batch_size=self.batch_size)
        train_feats = extract_dense_features(backbone,
                                             train_imgs[:, order], **extract)
        val_feats = extract_dense_features(backbone, val_imgs[:, order],
                                           **extract)
        results: Dict[str, float] = {}
        for probe in self._probes:
            results.update(
                probe(train_feats, train_labels, val_feats, val_labels))
        return results
