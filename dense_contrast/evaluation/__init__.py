"""Evaluation components of dense_contrast (metrics and probes).

Each module registers its metrics in :data:`dense_contrast.registry.METRICS`
and is listed here, so that ``dense_contrast.<Metric>`` also resolves from
mmdet and mmseg configs.
"""

from .dense_probes import (DenseCorrespondenceProbe, DenseKNNProbe,
                           DenseLinearProbe, DenseProbeSuite,
                           extract_dense_features, knn_vote,
                           label_proportions, load_segmentation_split,
                           miou_from_confusion, segmentation_confusion)
from .voc_metric import COCO_STYLE_IOU_THRS, VOCCocoStyleMetric

__all__: list = [
    'VOCCocoStyleMetric', 'COCO_STYLE_IOU_THRS', 'DenseLinearProbe',
    'DenseKNNProbe', 'DenseProbeSuite', 'extract_dense_features', 'knn_vote',
    'label_proportions', 'load_segmentation_split', 'miou_from_confusion',
    'segmentation_confusion', 'DenseCorrespondenceProbe'
]
