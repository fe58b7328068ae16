"""COCO-style AP on PASCAL VOC, as the self-supervised transfer papers report.

DenseCL and MoCo v2 evaluate VOC detection with detectron2's PASCAL VOC
evaluator: per-class VOC AP (difficult boxes ignored; the 11-point
interpolation for VOC2007 test) at the ten IoU thresholds 0.50:0.05:0.95,
averaged over classes, then AP = the mean over thresholds, AP50 and AP75 the
values at 0.5 and 0.75. This metric reuses mmdet's ``VOCMetric`` (its
per-image collection) and mmdet's ``eval_map``; how it differs from
``VOCMetric`` configured with the same thresholds is in the class
docstring.

This module imports mmdet (the ``downstream`` extra), so
:mod:`dense_contrast.evaluation` imports it only when one of its names is
first used; without mmdet that raises
:class:`~dense_contrast.utils.extras.MissingExtraError`, which says how to
install it.
"""
import contextlib
import itertools
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from dense_contrast.registry import METRICS
from dense_contrast.utils.extras import import_optional

VOCMetric = import_optional('mmdet.evaluation',
                            'dense_contrast.VOCCocoStyleMetric').VOCMetric
_mean_ap = import_optional('mmdet.evaluation.functional.mean_ap',
                           'dense_contrast.VOCCocoStyleMetric')
eval_map = _mean_ap.eval_map

__all__ = ['VOCCocoStyleMetric', 'COCO_STYLE_IOU_THRS', 'in_process_eval_map']

#: IoU thresholds of COCO's AP: 0.50, 0.55, ..., 0.95.
COCO_STYLE_IOU_THRS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())


class _InProcessPool:
    """The part of ``multiprocessing.Pool`` that mmdet's ``eval_map`` uses,
    run in the calling process."""

    def __init__(self, processes: Optional[int] = None) -> None:
        self.processes = processes

    def starmap(self, func: Callable, iterable: Iterable) -> list:
        return list(itertools.starmap(func, iterable))

    def close(self) -> None:
        pass

    def join(self) -> None:
        pass


@contextlib.contextmanager
def in_process_eval_map() -> Iterator[None]:
    """Run mmdet's ``eval_map`` without child processes inside the block.

    mmdet 3.3's ``eval_map`` forks a ``multiprocessing.Pool`` for every call
    with more than one image, even with ``nproc=1``. A fork copies the
    process with the locks its other threads held at that moment (PyTorch's
    thread pools, a logger), and a child that needs one of them waits for
    ever: the test suite hung that way. Inside this block the name ``Pool``
    of ``mmdet.evaluation.functional.mean_ap`` (a module-level import there,
    the only way in) is an in-process stand-in, and it is restored on
    exit. For one process that is also faster than a pool.
    """
    original = _mean_ap.Pool
    _mean_ap.Pool = _InProcessPool
    try:
        yield
    finally:
        _mean_ap.Pool = original


@METRICS.register_module()
class VOCCocoStyleMetric(VOCMetric):
    """PASCAL VOC detection AP averaged over IoU 0.50:0.95, plus AP50, AP75.

    Reported keys (under the prefix, ``pascal_voc/`` by default): ``AP``
    (mean over ``iou_thrs``), ``AP50``, ``AP75`` (when 0.5 / 0.75 are among
    the thresholds), as fractions in [0, 1] like mmdet's ``CocoMetric``.

    The papers multiply by 100 and average 5 runs; where they are silent on
    the interpolation this follows detectron2 (which they used): 11-point
    for VOC2007 test (``eval_mode='11points'``), area under the curve
    otherwise (``eval_mode='area'``). Boxes flagged difficult are ignored
    (neither true nor false positives), VOC's legacy ``+1`` box coordinates
    are kept, as in mmdet's ``VOCMetric``.

    Against mmdet 3.3's ``VOCMetric(iou_thrs=[0.5, 0.55, ..., 0.95],
    eval_mode=...)`` on the same predictions (tested,
    ``tests/test_evaluation/test_voc_metric.py``): the mean over thresholds
    is the same number (theirs ``mAP``, ours ``AP``); what this class does
    that ``VOCMetric`` does not:

    * AP50 and AP75 are reported exact. ``VOCMetric`` rounds every
      per-threshold value to 3 decimals (``round(mean_ap, 3)``), e.g.
      0.739 for 0.73889, which can move the last digit of a number quoted
      as a percentage with one decimal, as the papers do;
    * the keys are the papers' names: ``AP``, ``AP50``, ``AP75``, not
      ``mAP`` plus ten ``AP50`` ... ``AP95`` keys;
    * thresholds and ``eval_mode`` are checked when built (``ValueError``
      naming the value), where ``VOCMetric`` asserts on ``eval_mode`` only;
    * ``eval_map`` runs with ``nproc`` processes (default 1: in this
      process, see :func:`in_process_eval_map`) and quietly, with one
      summary line, where ``VOCMetric`` leaves ``eval_map``'s default of 4
      processes and logs a per-class table per threshold.

    Args:
        iou_thrs (Sequence[float]): IoU thresholds. Defaults to
            :data:`COCO_STYLE_IOU_THRS`.
        eval_mode (str): ``'11points'`` or ``'area'``.
            Defaults to '11points'.
        nproc (int): Processes used by ``eval_map`` per threshold; 1 runs
            it in this process, without forking. Defaults to 1.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None
            (``'pascal_voc'``).
    """

    def __init__(self,
                 iou_thrs: Sequence[float] = COCO_STYLE_IOU_THRS,
                 eval_mode: str = '11points',
                 nproc: int = 1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if isinstance(iou_thrs, float):
            iou_thrs = [iou_thrs]
        iou_thrs = [float(t) for t in iou_thrs]
        if not iou_thrs or not all(0.0 < t < 1.0 for t in iou_thrs):
            raise ValueError('iou_thrs must be a non-empty list of IoU '
                             f'thresholds in (0, 1), got {iou_thrs}')
        if eval_mode not in ('11points', 'area'):
            raise ValueError("eval_mode must be '11points' or 'area', got "
                             f'{eval_mode!r}')
        if nproc < 1:
            raise ValueError(f'nproc must be >= 1, got {nproc}')
        super().__init__(
            iou_thrs=iou_thrs,
            metric='mAP',
            eval_mode=eval_mode,
            collect_device=collect_device,
            prefix=prefix)
        self.nproc = nproc

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute AP, AP50 and AP75 from the collected results.

        Args:
            results (list[tuple]): ``(annotation, detections)`` per image as
                collected by ``VOCMetric.process``: annotation arrays
                ``bboxes`` (G, 4), ``labels`` (G, ), ``bboxes_ignore``,
                ``labels_ignore``; detections a list over classes of (D, 5)
                arrays (x1, y1, x2, y2, score).

        Returns:
            dict[str, float]: ``AP`` and, when evaluated, ``AP50``/``AP75``,
            plus ``AP@<thr>`` for every threshold.
        """
        logger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        per_threshold = OrderedDict()
        serial = in_process_eval_map() if self.nproc == 1 else \
            contextlib.nullcontext()
        with serial:
            for iou_thr in self.iou_thrs:
                mean_ap, _ = eval_map(
                    preds,
                    gts,
                    iou_thr=iou_thr,
                    dataset=self.dataset_meta['classes'],
                    logger='silent',
                    eval_mode=self.eval_mode,
                    use_legacy_coordinate=True,
                    nproc=self.nproc)
                per_threshold[iou_thr] = float(mean_ap)
        metrics: Dict[str, float] = OrderedDict(
            AP=float(np.mean(list(per_threshold.values()))))
        for name, thr in (('AP50', 0.5), ('AP75', 0.75)):
            if thr in per_threshold:
                metrics[name] = per_threshold[thr]
        logger.info('VOC COCO-style AP over IoU ' +
                    ', '.join(f'{t:.2f}: {ap:.4f}'
                              for t, ap in per_threshold.items()))
        return metrics
