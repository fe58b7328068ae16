"""VOCCocoStyleMetric: AP averaged over IoU 0.50:0.95 on VOC-style data.

Cases are built so that the answer follows from the definition: a box with
a known IoU to its ground truth is a true positive exactly at the
thresholds below that IoU.
"""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from dense_contrast.evaluation import COCO_STYLE_IOU_THRS, VOCCocoStyleMetric
from dense_contrast.registry import METRICS
from dense_contrast.evaluation.voc_metric import in_process_eval_map


def _sample(gt_boxes, gt_labels, pred_boxes, pred_scores, pred_labels,
            ignored_boxes=(), ignored_labels=()):
    """A data sample dict as mmdet's PackDetInputs + model produce it."""

    def instances(boxes, labels, scores=None):
        data = InstanceData()
        data.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        data.labels = torch.tensor(labels, dtype=torch.long)
        if scores is not None:
            data.scores = torch.tensor(scores, dtype=torch.float32)
        return data

    return dict(
        gt_instances=instances(gt_boxes, gt_labels),
        ignored_instances=instances(ignored_boxes, ignored_labels),
        pred_instances=instances(pred_boxes, pred_labels, pred_scores))


def _evaluate(samples, **kwargs):
    metric = VOCCocoStyleMetric(**kwargs)
    metric.dataset_meta = dict(classes=('a', 'b'))
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def _box_with_iou(iou):
    """A box shifted right from (0, 0, 99, 99) so that IoU (with VOC's +1
    pixel convention, side 100) is ``iou``: overlap 100 * w, union
    100 * (200 - w) -> w = 200 * iou / (1 + iou)."""
    width = 200 * iou / (1 + iou)
    shift = 100 - width
    return [shift, 0, 99 + shift, 99]


def test_registered_and_thresholds():
    assert METRICS.get('VOCCocoStyleMetric') is VOCCocoStyleMetric
    assert COCO_STYLE_IOU_THRS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8,
                                   0.85, 0.9, 0.95)


@pytest.mark.parametrize('mode', ['11points', 'area'])
def test_perfect_detections(mode):
    gt = [[0, 0, 99, 99], [150, 150, 199, 219]]
    results = _evaluate([_sample(gt, [0, 1], gt, [0.9, 0.8], [0, 1])],
                        eval_mode=mode)
    assert results == pytest.approx(
        {'pascal_voc/AP': 1.0, 'pascal_voc/AP50': 1.0,
         'pascal_voc/AP75': 1.0})


@pytest.mark.parametrize('iou', [0.62, 0.77, 0.93])
def test_iou_sets_the_thresholds_passed(iou):
    # One class, one object, one detection with the given IoU: AP is 1 at
    # the thresholds <= iou and 0 above, so the mean counts them.
    results = _evaluate([
        _sample([[0, 0, 99, 99]], [0], [_box_with_iou(iou)], [0.9], [0])
    ])
    passed = sum(t <= iou for t in COCO_STYLE_IOU_THRS)
    assert results['pascal_voc/AP'] == pytest.approx(passed / 10)
    assert results['pascal_voc/AP50'] == 1.0
    assert results['pascal_voc/AP75'] == float(iou >= 0.75)


def test_difficult_objects_are_ignored_and_false_positives_count():
    gt = [[0, 0, 99, 99]]
    difficult = [[300, 300, 399, 399]]
    # A detection on the difficult box is neither a hit nor a miss.
    results = _evaluate([
        _sample(gt, [0], gt + difficult, [0.9, 0.95], [0, 0], difficult, [0])
    ])
    assert results['pascal_voc/AP'] == pytest.approx(1.0)
    # The same detection without the difficult flag is a false positive
    # ranked first: precision 1/2 at recall 1, 11-point AP = 0.5.
    results = _evaluate([
        _sample(gt, [0], gt + difficult, [0.9, 0.95], [0, 0])
    ])
    assert results['pascal_voc/AP'] == pytest.approx(0.5)
    assert results['pascal_voc/AP50'] == pytest.approx(0.5)


def test_missed_class_halves_the_mean():
    # Class 'b' has a ground truth and no detection: AP_b = 0.
    results = _evaluate([
        _sample([[0, 0, 99, 99], [200, 200, 299, 299]], [0, 1],
                [[0, 0, 99, 99]], [0.9], [0])
    ])
    assert results['pascal_voc/AP'] == pytest.approx(0.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match='eval_mode'):
        VOCCocoStyleMetric(eval_mode='101points')
    with pytest.raises(ValueError, match='iou_thrs'):
        VOCCocoStyleMetric(iou_thrs=[0.5, 1.5])
    assert np.isclose(VOCCocoStyleMetric(iou_thrs=0.5).iou_thrs, [0.5]).all()


# ------------------------------------------- against mmdet's own VOCMetric
def _mmdet_evaluate(samples, **kwargs):
    from mmdet.evaluation import VOCMetric
    metric = VOCMetric(iou_thrs=list(COCO_STYLE_IOU_THRS), **kwargs)
    metric.dataset_meta = dict(classes=('a', 'b'))
    metric.process({}, samples)
    with in_process_eval_map():  # no forked pool inside the test process
        return metric.evaluate(len(samples))


def test_in_process_eval_map_forks_nothing_and_restores_the_pool(
        monkeypatch):
    """Inside the block eval_map never builds a process pool; outside it
    mmdet's own Pool is back."""
    import multiprocessing

    from mmdet.evaluation.functional import mean_ap

    def no_fork(*args, **kwargs):
        raise AssertionError('eval_map started a process pool')

    monkeypatch.setattr(mean_ap, 'Pool', no_fork)
    samples = _mixed_samples()
    assert len(samples) > 1  # eval_map pools only for several images
    ours = _evaluate(samples, eval_mode='area')
    assert 0 < ours['pascal_voc/AP'] < 1
    assert mean_ap.Pool is no_fork
    monkeypatch.undo()
    assert mean_ap.Pool is multiprocessing.Pool


def _mixed_samples():
    """Two images, two classes, detections at several IoUs with false
    positives and a miss: AP values with many decimals."""
    return [
        _sample([[0, 0, 99, 99], [200, 200, 299, 299], [400, 0, 499, 99]],
                [0, 0, 1],
                [_box_with_iou(0.93), [600, 600, 650, 650],
                 [200, 200, 299, 299], [400, 0, 499, 99], [0, 300, 50, 350]],
                [0.9, 0.85, 0.7, 0.8, 0.75], [0, 0, 0, 1, 1]),
        _sample([[0, 0, 99, 99], [120, 0, 219, 99]], [0, 1],
                [_box_with_iou(0.72), [120, 0, 219, 99], [300, 0, 399, 99]],
                [0.95, 0.6, 0.99], [0, 1, 0]),
    ]


@pytest.mark.parametrize('mode', ['11points', 'area'])
def test_same_mean_as_mmdet_voc_metric_with_coco_thresholds(mode):
    """mmdet's VOCMetric(iou_thrs=0.50:0.05:0.95, eval_mode=...) averages
    the same eval_map calls: its ``mAP`` is our ``AP``."""
    ours = _evaluate(_mixed_samples(), eval_mode=mode)
    theirs = _mmdet_evaluate(_mixed_samples(), eval_mode=mode)
    assert ours['pascal_voc/AP'] == pytest.approx(theirs['pascal_voc/mAP'],
                                                  abs=1e-12)
    # Their per-threshold keys: AP50, AP55, ..., AP95.
    assert [k for k in theirs if k != 'pascal_voc/mAP'] == [
        f'pascal_voc/AP{int(t * 100):02d}' for t in COCO_STYLE_IOU_THRS
    ]


@pytest.mark.parametrize('mode', ['11points', 'area'])
def test_mmdet_rounds_per_threshold_ap_to_three_decimals(mode):
    """The difference that keeps this class: mmdet's VOCMetric rounds every
    per-threshold AP (AP50, AP75, ...) to 3 decimals, ours keeps them
    exact; they agree once ours is rounded the same way."""
    ours = _evaluate(_mixed_samples(), eval_mode=mode)
    theirs = _mmdet_evaluate(_mixed_samples(), eval_mode=mode)
    differs = False
    for key in ('AP50', 'AP75'):
        exact, rounded = ours[f'pascal_voc/{key}'], theirs[f'pascal_voc/{key}']
        assert rounded == round(exact, 3), key
        differs |= rounded != exact
    assert differs, 'the constructed case should need rounding'
    # Ours has no 'mAP' key and no AP55 ... AP95 keys; theirs no 'AP'.
    assert 'pascal_voc/mAP' not in ours and 'pascal_voc/AP55' not in ours
    assert 'pascal_voc/AP' not in theirs
