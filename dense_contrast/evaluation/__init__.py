"""Evaluation components of dense_contrast (metrics and probes).

Each module registers its metrics in :data:`dense_contrast.registry.METRICS`
and is listed here, so that ``dense_contrast.<Metric>`` also resolves from
mmdet and mmseg configs.
"""

__all__: list = []
