"""Every config under configs/ parses and its model builds."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope, init_default_scope

import dense_contrast  # noqa: F401
from dense_contrast.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '_base_' not in p
    # mmdet/mmseg/mmpretrain scopes: tests/test_benchmarks/ covers them.
    and 'benchmarks' not in p)


def test_configs_exist():
    assert any('densecl_resnet50_8xb32-coslr-200e_in1k' in p for p in CONFIGS)
    assert any('toyscenes' in p for p in CONFIGS)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_config_parses_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'dense_contrast', path
    # A cross-package _base_ would stamp _scope_ into collate_fn.
    assert '_scope_' not in cfg.train_dataloader.get('collate_fn', {})
    init_default_scope(cfg.default_scope)
    try:
        model = MODELS.build(cfg.model)
        # Every transform of the training pipeline resolves and builds.
        pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
        assert len(pipeline.transforms) == len(
            cfg.train_dataloader.dataset.pipeline)
    finally:
        DefaultScope._instance_dict.pop(DefaultScope.get_current_instance()
                                        .instance_name, None)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_imagenet_densecl_has_the_papers_parameter_count():
    """mmpretrain's model zoo lists 64,850,560 parameters for DenseCL R50:
    twice (ResNet-50 without fc + the two projection MLPs)."""
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'densecl',
                 'densecl_resnet50_8xb32-coslr-200e_in1k.py'))
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) == 64_850_560
    assert sum(p.numel() for p in model.neck.parameters()) == 8_917_248
    assert model.global_queue.feats.shape == (128, 65536)


def test_coco_pretraining_reads_unlabelled_train2017(tmp_path):
    """DenseCL's COCO config reads every image of ``train2017/`` (mmdet's
    COCO layout) without annotations, and yields two views of each."""
    import numpy as np
    from PIL import Image

    from dense_contrast.registry import DATASETS
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'densecl',
                 'densecl_resnet50_8xb32-coslr-800e_coco.py'))
    folder = tmp_path / 'train2017'
    folder.mkdir()
    for index in range(3):
        Image.fromarray(np.full((40, 60, 3), 40 * index, np.uint8)).save(
            folder / f'{index:012d}.jpg')
    (tmp_path / 'annotations').mkdir()  # present in the layout, not read
    dataset_cfg = cfg.train_dataloader.dataset
    assert dataset_cfg.data_root == 'data/coco/'
    dataset_cfg.data_root = str(tmp_path)
    init_default_scope(cfg.default_scope)
    try:
        dataset = DATASETS.build(dataset_cfg)
        sample = dataset[0]
    finally:
        DefaultScope._instance_dict.pop(DefaultScope.get_current_instance()
                                        .instance_name, None)
    assert len(dataset) == 3
    assert [osp.basename(dataset.get_data_info(i)['img_path'])
            for i in range(3)] == [f'{i:012d}.jpg' for i in range(3)]
    assert 'gt_label' not in dataset.get_data_info(0)
    assert [tuple(v.shape) for v in sample['inputs']] == [(3, 224, 224)] * 2
