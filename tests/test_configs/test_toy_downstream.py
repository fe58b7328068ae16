"""The toy Mask R-CNN, FCN and multi-label classification configs train
and evaluate end to end.

A few iterations on the tiny toy scenes (12 training, 2 validation images
of 64 px), through the configs' own mmengine Runner: the evaluators must
report COCO bbox/segm AP (pycocotools), mIoU (mmseg) and multi-label mAP
(mmpretrain) as numbers.
"""
import glob
import json
import math
import os.path as osp
from typing import Tuple

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection',
               'mask-rcnn_r18_fpn_1xb8-2e_toyscenes.py')
SEG_CONFIGS = sorted(
    glob.glob(
        osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation',
                 '*_toyscenes*.py')))
CLS_CONFIGS = sorted(
    glob.glob(
        osp.join(ROOT, 'configs', 'benchmarks', 'mmpretrain',
                 '*_toyscenes*.py')))


def _tiny(cfg: Config, root: str, work_dir: str) -> Config:
    cfg.work_dir = work_dir
    # mmengine keeps one visualizer per name, and the packages' configs
    # name theirs 'visualizer': a later run in this process would write its
    # scalars into the first run's folder.
    cfg.visualizer.name = osp.basename(work_dir)
    cfg.model.backbone.init_cfg = None
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 2
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].dataset.data_root = root
    cfg.default_hooks.logger.interval = 1
    return cfg


def _run(cfg: Config) -> Tuple[list, dict, dict]:
    """Train and evaluate through the config's Runner.

    Returns:
        tuple: The json log's records, and the backbone's state before and
        after training.
    """
    runner = Runner.from_cfg(cfg)
    try:
        # Initialised here, so that ``before`` is the starting point
        # (mmengine's BaseModule initialises once; train() skips it then).
        runner.model.init_weights()
        before = {
            k: v.clone()
            for k, v in runner.model.backbone.state_dict().items()
        }
        runner.train()
        after = runner.model.backbone.state_dict()
    finally:
        DefaultScope._instance_dict.pop(
            DefaultScope.get_current_instance().instance_name, None)
    scalars = osp.join(cfg.work_dir, runner.timestamp, 'vis_data',
                       'scalars.json')
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    return records, before, after


def test_toy_mask_rcnn_trains_and_evaluates(tiny_toyscenes, tmp_path):
    root, _ = tiny_toyscenes
    cfg = _tiny(Config.fromfile(DET), root, str(tmp_path))
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=3, val_interval=3)
    cfg.param_scheduler = []
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=3)
    cfg.val_evaluator.ann_file = osp.join(root, 'annotations',
                                          'instances_val.json')
    records, _, _ = _run(cfg)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    final = records[-1]
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_75'):
        assert key in final and -1.0 <= final[key] <= 1.0, key


@pytest.mark.parametrize(
    'path', SEG_CONFIGS, ids=[osp.basename(p)[:-3] for p in SEG_CONFIGS])
def test_toy_fcn_trains_and_evaluates(path, tiny_toyscenes, tmp_path):
    """Every toy FCN protocol (full, low-label, frozen backbone) trains
    and scores mIoU on val; the test split is its own."""
    root, _ = tiny_toyscenes
    cfg = _tiny(Config.fromfile(path), root, str(tmp_path))
    assert 'test' in cfg.test_dataloader.dataset.data_prefix.img_path
    # The low-label configs take the first N training images; the tiny
    # data has fewer.
    cfg.train_dataloader.dataset.pop('indices', None)
    cfg.train_cfg.max_iters = 3
    cfg.train_cfg.val_interval = 3
    cfg.param_scheduler[0].end = 3
    records, before, after = _run(cfg)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    final = records[-1]
    assert 0.0 <= final['mIoU'] <= 100.0
    # The frozen-backbone protocol keeps every backbone tensor (weights and
    # BN statistics); the others train it.
    frozen = cfg.model.backbone.get('frozen_stages', -1) == 4
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    assert unchanged == frozen
    assert 0.0 <= final['aAcc'] <= 100.0


@pytest.mark.parametrize(
    'path', CLS_CONFIGS, ids=[osp.basename(p)[:-3] for p in CLS_CONFIGS])
def test_toy_multilabel_trains_and_scores_map(path, tiny_toyscenes,
                                              tmp_path):
    """The toy multi-label protocols (linear on frozen features, fine-tune)
    train one epoch and score mAP, CP/CR/CF1 and OP/OR/OF1 on val; the
    test split is its own."""
    assert len(CLS_CONFIGS) >= 2
    root, _ = tiny_toyscenes
    cfg = _tiny(Config.fromfile(path), root, str(tmp_path))
    assert 'test' in cfg.test_dataloader.dataset.data_prefix
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    records, before, after = _run(cfg)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert losses and all(math.isfinite(v) for v in losses)
    final = records[-1]
    for key in ('mAP', 'precision', 'recall', 'f1-score', 'precision_micro',
                'recall_micro', 'f1-score_micro'):
        assert 0.0 <= final[f'multi-label/{key}'] <= 100.0, key
    # The linear protocol keeps every backbone tensor (weights and BN
    # statistics); the fine-tune trains it.
    frozen = cfg.model.backbone.frozen_stages == 4
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    assert unchanged == frozen
