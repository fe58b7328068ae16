"""Dense probes: how well a frozen backbone's feature map separates classes
pixel by pixel.

Two probes score a feature map against semantic labels:

- :class:`DenseLinearProbe`: a 1x1 convolution (a per-location linear
  classifier) fitted on a labelled split, mIoU on another split;
- :class:`DenseKNNProbe`: every location of the second split takes the
  labels of its k most similar locations of the first split (cosine
  similarity), mIoU of that vote.

A third retrieves labels from a memory of augmented training patches, in
the protocol of Hummingbird (Balažević et al., NeurIPS 2023):
:class:`DenseRetrievalProbe` (k = 30 neighbours, softmax temperature 0.02;
torch top-k in chunks, or faiss when installed).

A fourth needs no labels: :class:`DenseCorrespondenceProbe` cuts two views
of known geometry from each image and scores how often a location's
nearest neighbour in the other view is the same scene point (within one
cell), the most direct test of what a dense contrastive method learns.

:class:`DenseProbeSuite` loads the two labelled splits once (a toy scenes
folder, or any mmseg dataset through :mod:`.mmseg_data`), extracts the
features of a backbone and runs a list of probes; the pretraining hook
(:class:`dense_contrast.engine.DenseProbeHook`), the validation evaluator
(:class:`dense_contrast.evaluation.DenseProbeMetric` with
:class:`dense_contrast.engine.DenseProbeValLoop`), ``tools/eval_dense.py``
and ``tools/study.py`` use it.

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

Modules: :mod:`.metrics` (label resampling, confusion, mIoU),
:mod:`.cells` (feature maps as rows of cells), :mod:`.segmentation_probe`
(what the labelled probes share: fit, predict, score), :mod:`.linear`,
:mod:`.knn`, :mod:`.retrieval` and :mod:`.correspondence` (the probes),
:mod:`.features` (toy data and feature extraction), :mod:`.mmseg_data`
(mmseg datasets), :mod:`.suite` (:class:`DenseProbeSuite`).

Shape letters: N images, C channels, K classes, h x w a feature grid,
H x W the label resolution, M bank rows, Q query rows.
"""
from .correspondence import (DenseCorrespondenceProbe, ViewPairs,
                             correspondence_accuracy, crop_views, recolour,
                             sample_view_pairs, true_cells)
from .features import extract_dense_features, load_segmentation_split
from .knn import (KNN_BACKENDS, DenseKNNProbe, faiss_available, knn_search,
                  knn_vote)
from .linear import DenseLinearProbe
from .metrics import (label_proportions, miou_from_confusion,
                      segmentation_confusion)
from .mmseg_data import (build_mmseg_dataset, load_mmseg_split,
                         probe_pipeline, split_configs, write_voc_layout)
from .retrieval import DenseRetrievalProbe, augment_images
from .segmentation_probe import SegmentationProbe
from .suite import DenseProbeSuite, model_inputs

__all__ = [
    'label_proportions', 'segmentation_confusion', 'miou_from_confusion',
    'KNN_BACKENDS', 'faiss_available', 'knn_search', 'knn_vote',
    'extract_dense_features', 'load_segmentation_split',
    'probe_pipeline', 'build_mmseg_dataset', 'load_mmseg_split',
    'split_configs', 'write_voc_layout', 'SegmentationProbe',
    'DenseLinearProbe', 'DenseKNNProbe', 'DenseRetrievalProbe',
    'augment_images', 'DenseProbeSuite', 'model_inputs',
    'DenseCorrespondenceProbe', 'ViewPairs', 'correspondence_accuracy',
    'crop_views', 'recolour', 'sample_view_pairs', 'true_cells'
]
