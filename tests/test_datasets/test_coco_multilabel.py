"""CocoMultiLabel: image labels from a COCO instances json, and the
multi-label metrics of the benchmark configs on known scores."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope, init_default_scope
from mmpretrain.structures import DataSample

from dense_contrast.datasets import CocoMultiLabel, coco_image_labels

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_LINEAR = osp.join(
    ROOT, 'configs', 'benchmarks', 'mmpretrain',
    'resnet18_multilabel-linear_1xb32-coslr-20e_toyscenes.py')

# Category ids are not contiguous and not in name order, as in COCO.
COCO = dict(
    images=[
        dict(id=10, file_name='a.png'),
        dict(id=11, file_name='b.png'),
        dict(id=12, file_name='c.png'),  # no annotation
        dict(id=13, file_name='d.png'),
    ],
    categories=[
        dict(id=7, name='person'),
        dict(id=2, name='car'),
        dict(id=40, name='dog'),
    ],
    annotations=[
        dict(id=1, image_id=10, category_id=7),
        dict(id=2, image_id=10, category_id=7),  # a second person
        dict(id=3, image_id=10, category_id=40),
        dict(id=4, image_id=11, category_id=2),
        dict(id=5, image_id=13, category_id=40, iscrowd=1),
    ])


def _write(tmp_path, coco=COCO) -> str:
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(coco))
    return str(path)


def test_labels_are_the_categories_present(tmp_path):
    # Default classes: every category by increasing id: car, person, dog.
    dataset = CocoMultiLabel(
        ann_file=_write(tmp_path), data_prefix='imgs', lazy_init=False)
    assert dataset.metainfo['classes'] == ('car', 'person', 'dog')
    assert [(osp.basename(d['img_path']), d['gt_label'])
            for d in (dataset.get_data_info(i)
                      for i in range(len(dataset)))] == [
                          ('a.png', [1, 2]), ('b.png', [0]), ('d.png', [2])]
    assert dataset.get_data_info(0)['img_path'] == osp.join('imgs', 'a.png')
    assert dataset.get_cat_ids(0) == [1, 2]


def test_classes_order_subset_crowd_and_unlabelled(tmp_path):
    dataset = CocoMultiLabel(
        ann_file=_write(tmp_path),
        metainfo=dict(classes=('dog', 'person')),
        include_crowd=False,
        keep_unlabelled=True)
    labels = [dataset.get_data_info(i)['gt_label']
              for i in range(len(dataset))]
    # a: person + dog; b: only a car (not a class); c: nothing; d: a crowd.
    assert labels == [[0, 1], [], [], []]
    assert coco_image_labels(COCO, ['dog'])[13] == [0]


def test_bad_json_is_named(tmp_path):
    with pytest.raises(ValueError, match="has no 'annotations'"):
        coco_image_labels(dict(images=[], categories=[]), source='x.json')
    with pytest.raises(ValueError, match=r"classes \['cat'\] are not"):
        CocoMultiLabel(ann_file=_write(tmp_path),
                       metainfo=dict(classes=('cat', )))
    broken = dict(COCO, annotations=[dict(id=9, image_id=99,
                                          category_id=7)])
    with pytest.raises(ValueError, match='image_id 99'):
        coco_image_labels(broken, source='x.json')
    with pytest.raises(FileNotFoundError, match='no annotation file'):
        CocoMultiLabel(ann_file=str(tmp_path / 'missing.json'))


def _evaluate(pred_scores: torch.Tensor, labels) -> dict:
    """The toy benchmark's evaluators on given scores."""
    cfg = Config.fromfile(TOY_LINEAR)
    init_default_scope('mmpretrain')
    try:
        evaluator = Evaluator(cfg.val_evaluator)
        samples = [
            DataSample().set_pred_score(score).set_gt_label(label)
            for score, label in zip(pred_scores, labels)
        ]
        num = pred_scores.shape[1]
        for sample in samples:
            sample.set_gt_score(torch.zeros(num).index_fill_(
                0, torch.as_tensor(sample.gt_label), 1.0))
        evaluator.process(samples)
        return evaluator.evaluate(len(samples))
    finally:
        DefaultScope._instance_dict.pop(
            DefaultScope.get_current_instance().instance_name, None)


def test_perfect_scores_give_map_100_and_a_wrong_one_less():
    labels = [[0, 2], [1], [3, 4, 5], [0], [2, 5]]
    perfect = torch.zeros(len(labels), 6)
    for i, label in enumerate(labels):
        perfect[i, label] = 0.9
    metrics = _evaluate(perfect, labels)
    assert metrics['multi-label/mAP'] == pytest.approx(100.0)
    for key in ('precision', 'recall', 'f1-score', 'precision_micro',
                'recall_micro', 'f1-score_micro'):
        assert metrics[f'multi-label/{key}'] == pytest.approx(100.0), key
    # Class 0 scored higher on image 1 (not a 0) than on image 3 (a 0):
    # ranks 1 (a 0), 2 (not), 3 (a 0) give AP (1 + 2/3) / 2 for class 0;
    # the other five stay at 1.
    worse = perfect.clone()
    worse[1, 0] = 0.95
    worse[0, 0] = 0.97
    metrics = _evaluate(worse, labels)
    expected = 100 * (5 + (1 + 2 / 3) / 2) / 6
    assert metrics['multi-label/mAP'] == pytest.approx(expected, rel=1e-4)
