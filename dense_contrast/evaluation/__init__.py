"""Evaluation components of dense_contrast (metrics and probes).

Each module registers its metrics in :data:`dense_contrast.registry.METRICS`
and is listed here, so that ``dense_contrast.<Metric>`` also resolves from
mmdet and mmseg configs.

Names that need an optional dependency (:data:`DOWNSTREAM_EXPORTS`, e.g.
``VOCCocoStyleMetric``, which subclasses mmdet's ``VOCMetric``) are imported
on first access, so that importing the package does not import mmdet or
mmseg. They are left out of ``__all__`` (a star import would import them);
the ``METRICS`` registry imports them on lookup by name, and without the
dependency both ways raise
:class:`~dense_contrast.utils.extras.MissingExtraError` naming the extra that
installs it.
"""
import importlib
from typing import Any, List

from .dense_probe_metric import DenseProbeMetric
from .dense_probes import (DenseCorrespondenceProbe, DenseKNNProbe,
                           DenseLinearProbe, DenseProbeSuite,
                           DenseRetrievalProbe, extract_dense_features,
                           knn_search, knn_vote, label_proportions,
                           load_mmseg_split, load_segmentation_split,
                           miou_from_confusion, segmentation_confusion,
                           split_configs, write_voc_layout)

__all__: list = [
    'DenseLinearProbe', 'DenseKNNProbe', 'DenseRetrievalProbe',
    'DenseProbeSuite', 'DenseProbeMetric', 'extract_dense_features',
    'knn_search', 'knn_vote', 'label_proportions', 'load_segmentation_split',
    'load_mmseg_split', 'split_configs', 'write_voc_layout',
    'miou_from_confusion', 'segmentation_confusion',
    'DenseCorrespondenceProbe'
]

#: Public names imported on first access -> the module defining them.
DOWNSTREAM_EXPORTS = {
    'VOCCocoStyleMetric': f'{__name__}.voc_metric',
    'COCO_STYLE_IOU_THRS': f'{__name__}.voc_metric',
}


def __getattr__(name: str) -> Any:
    """Import a name of :data:`DOWNSTREAM_EXPORTS` on first access.

    Args:
        name (str): The attribute asked for.

    Returns:
        Any: The object (cached in the module afterwards).

    Raises:
        AttributeError: If ``name`` is not a lazy export either.
        MissingExtraError: If its optional dependency is missing.
    """
    module = DOWNSTREAM_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    """The module's names, lazy exports included.

    Returns:
        list[str]: Sorted names.
    """
    return sorted(set(globals()) | set(DOWNSTREAM_EXPORTS))
