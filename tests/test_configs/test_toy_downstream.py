"""The toy Mask R-CNN and FCN configs train and evaluate end to end.

A few iterations on the tiny toy scenes (12 training, 2 validation images
of 64 px), through the configs' own mmengine Runner: the evaluators must
report COCO bbox/segm AP (pycocotools) and mIoU (mmseg) as numbers.
"""
import json
import math
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection',
               'mask-rcnn_r18_fpn_1xb8-2e_toyscenes.py')
SEG = osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation',
               'fcn_r18-d8_1xb8-100i_toyscenes-128x128.py')


def _tiny(cfg: Config, root: str, work_dir: str) -> Config:
    cfg.work_dir = work_dir
    cfg.model.backbone.init_cfg = None
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 2
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].dataset.data_root = root
    cfg.default_hooks.logger.interval = 1
    return cfg


def _run(cfg: Config) -> dict:
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    finally:
        DefaultScope._instance_dict.pop(
            DefaultScope.get_current_instance().instance_name, None)
    scalars = osp.join(cfg.work_dir, runner.timestamp, 'vis_data',
                       'scalars.json')
    with open(scalars) as f:
        records = [json.loads(line) for line in f]
    return records


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
    records = _run(cfg)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    final = records[-1]
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP',
                'coco/segm_mAP_75'):
        assert key in final and -1.0 <= final[key] <= 1.0, key


def test_toy_fcn_trains_and_evaluates(tiny_toyscenes, tmp_path):
    root, _ = tiny_toyscenes
    cfg = _tiny(Config.fromfile(SEG), root, str(tmp_path))
    cfg.train_cfg.max_iters = 3
    cfg.train_cfg.val_interval = 3
    cfg.param_scheduler[0].end = 3
    records = _run(cfg)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    final = records[-1]
    assert 0.0 <= final['mIoU'] <= 100.0
    assert 0.0 <= final['aAcc'] <= 100.0
