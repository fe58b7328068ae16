"""The benchmark configs parse, build, and load an extracted checkpoint.

The checkpoint is made here: a randomly initialised DenseCL R50 (the
project's ImageNet config) saved as a pretraining checkpoint and run through
the extract tool. Each downstream model must then hold exactly the file's
tensors in its backbone (for the C4 detector: backbone + the RoI head's
res5), with no missing and no unexpected backbone key. Heads and necks stay
randomly initialised (mmengine may log that, which is expected). Models are
built with their configured SyncBN: construction and weight loading need no
process group.
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from dense_contrast.datasets import TOYSCENES_CLASSES, TOYSCENES_PALETTE
from dense_contrast.utils.extract import extract_backbone_weights

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'configs', 'benchmarks')
R50_CONFIGS = [
    'mmdetection/mask-rcnn_r50_fpn_1x_coco.py',
    'mmdetection/faster-rcnn_r50-c4_ms-24k_voc0712.py',
    'mmsegmentation/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
    'mmsegmentation/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py',
    'mmpretrain/resnet50_linear-8xb32-steplr-100e_in1k.py',
]
TOY_CONFIGS = sorted(
    osp.relpath(p, BENCH)
    for p in glob.glob(osp.join(BENCH, '*', '*_toyscenes*.py')))
# The pretraining config whose backbone the toy transfers take.
TOY_PRETRAIN = osp.join(ROOT, 'configs', 'densecl',
                        'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
SCOPES = dict(mmdetection='mmdet', mmsegmentation='mmseg',
              mmpretrain='mmpretrain')


def test_every_benchmark_config_is_listed():
    found = sorted(
        osp.relpath(p, BENCH)
        for p in glob.glob(osp.join(BENCH, '*', '*.py')))
    # Other configs (e.g. MCL's FPN + head variant) have their own tests.
    assert set(R50_CONFIGS + TOY_CONFIGS +
               ['mmdetection/mask-rcnn_r50_fpn_2x_coco.py']) <= set(found)


def test_2x_is_the_1x_protocol_for_24_epochs():
    one = Config.fromfile(osp.join(BENCH, R50_CONFIGS[0]))
    two = Config.fromfile(
        osp.join(BENCH, 'mmdetection/mask-rcnn_r50_fpn_2x_coco.py'))
    assert two.model == one.model
    assert two.train_cfg.max_epochs == 24
    assert two.param_scheduler[1].milestones == [16, 22]


def _build(cfg: Config):
    """Build the model of a downstream config in its package's scope."""
    scope = cfg.default_scope
    init_default_scope(scope)
    registry = {
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry',
        'mmpretrain': 'mmpretrain.registry'
    }[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    try:
        return models.build(cfg.model)
    finally:
        DefaultScope._instance_dict.pop(
            DefaultScope.get_current_instance().instance_name, None)


@pytest.fixture(scope='module')
def densecl_r50_backbone(tmp_path_factory):
    """Extracted backbone of a random DenseCL R50: (path, state dict)."""
    from dense_contrast.registry import MODELS
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'densecl',
                 'densecl_resnet50_8xb32-coslr-200e_in1k.py'))
    cfg.model.queue_len = 256
    init_default_scope('dense_contrast')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    folder = tmp_path_factory.mktemp('densecl_r50')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)),
               str(folder / 'epoch_1.pth'))
    out = str(folder / 'backbone.pth')
    extracted = extract_backbone_weights(str(folder / 'epoch_1.pth'), out)
    return out, extracted['state_dict']


def _pretrained_modules(model, scope):
    """The modules that the extracted file initialises."""
    if scope == 'mmpretrain':
        return [model.backbone]
    modules = [model.backbone]
    shared_head = getattr(getattr(model, 'roi_head', None), 'shared_head',
                          None)
    if shared_head is not None:
        modules.append(shared_head)
    return modules


@pytest.mark.parametrize('name', R50_CONFIGS)
def test_r50_config_loads_extracted_weights(name, densecl_r50_backbone):
    path, expected = densecl_r50_backbone
    cfg = Config.fromfile(osp.join(BENCH, name))
    scope = SCOPES[name.split('/')[0]]
    assert cfg.default_scope == scope
    # The protocol: SyncBN backbone, BN statistics updated, nothing frozen
    # in detection; the plain ResNet stem in segmentation.
    backbone = cfg.model.backbone
    if scope == 'mmdet':
        assert backbone.norm_cfg.type == 'SyncBN'
        assert backbone.norm_eval is False and backbone.frozen_stages == -1
        assert backbone.style == 'pytorch'
    if scope == 'mmseg':
        assert backbone.type == 'ResNet' and not backbone.get('deep_stem')
        assert backbone.norm_cfg.type == 'SyncBN'
    if 'mask-rcnn' in name:
        assert cfg.model.neck.norm_cfg.type == 'SyncBN'
        bbox_head = cfg.model.roi_head.bbox_head
        assert bbox_head.type == 'Shared4Conv1FCBBoxHead'
        assert bbox_head.norm_cfg.type == 'SyncBN'
        assert cfg.model.roi_head.mask_head.norm_cfg.type == 'SyncBN'
    if 'voc0712' in name:
        assert cfg.val_evaluator.type == 'dense_contrast.VOCCocoStyleMetric'
        assert cfg.train_cfg.max_iters == 24000
    for key in ('coco', 'VOCdevkit', 'cityscapes', 'imagenet'):
        if key.lower() in name.lower() or (key == 'VOCdevkit'
                                           and 'voc' in name):
            assert f'data/{key}' in cfg.train_dataloader.dataset.get(
                'data_root', '') + str(cfg.train_dataloader.dataset)

    # Point every Pretrained init_cfg at the extracted file.
    from dense_contrast.apis import pretrained_init_paths
    for dotted in pretrained_init_paths(cfg):
        cfg.merge_from_dict({f'{dotted}.checkpoint': path})
    model = _build(cfg)

    loaded = {}
    for module in _pretrained_modules(model, scope):
        module.init_weights()  # runs its init_cfg (heads are not needed)
        state = module.state_dict()
        loaded.update(state)
    assert set(loaded) == set(expected), (
        'missing: ' + str(sorted(set(expected) - set(loaded))[:5]) +
        ' unexpected: ' + str(sorted(set(loaded) - set(expected))[:5]))
    for key, value in expected.items():
        assert torch.equal(loaded[key].cpu(), value), key


@pytest.mark.parametrize('name', TOY_CONFIGS)
def test_toy_config_metainfo_and_pretrained_weights(name, tmp_path):
    cfg = Config.fromfile(osp.join(BENCH, name))
    classes = tuple(cfg.train_dataloader.dataset.metainfo.classes)
    if 'mmseg' in name:
        assert classes == ('background', ) + TOYSCENES_CLASSES
        assert [tuple(c) for c in cfg.train_dataloader.dataset.metainfo
                .palette] == list(TOYSCENES_PALETTE)
        assert cfg.model.backbone.type == 'ResNet'
    else:
        assert classes == TOYSCENES_CLASSES
    # A backbone of the toy DenseCL config loads without key errors.
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    backbone_cfg = Config.fromfile(TOY_PRETRAIN).model.backbone.to_dict()
    assert backbone_cfg.pop('type') == 'ResNet'
    source = ResNet(**backbone_cfg)
    torch.save(dict(state_dict={f'backbone.{k}': v
                                for k, v in source.state_dict().items()}),
               str(tmp_path / 'r18.pth'))
    out = str(tmp_path / 'backbone.pth')
    expected = extract_backbone_weights(str(tmp_path / 'r18.pth'),
                                        out)['state_dict']
    cfg.model.backbone.init_cfg.checkpoint = out
    model = _build(cfg)
    model.backbone.init_weights()
    state = model.backbone.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
