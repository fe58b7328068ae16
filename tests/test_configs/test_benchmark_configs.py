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
from mmengine.hub import get_config
from mmengine.registry import DefaultScope, init_default_scope

from dense_contrast.datasets import TOYSCENES_CLASSES, TOYSCENES_PALETTE
from dense_contrast.utils.extract import extract_backbone_weights

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'configs', 'benchmarks')
R50_CONFIGS = [
    'mmdetection/mask-rcnn_r50_fpn_1x_coco.py',
    'mmdetection/mask-rcnn_r50_fpn_ms-1x_coco.py',
    'mmdetection/faster-rcnn_r50-c4_ms-24k_voc0712.py',
    'mmsegmentation/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
    'mmsegmentation/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py',
    'mmpretrain/resnet50_linear-8xb32-steplr-100e_in1k.py',
    # DenseCL++'s benchmarks: COCO multi-label classification, COCO-Stuff.
    'mmpretrain/resnet50_multilabel-linear_8xb32-steplr-100e_coco.py',
    'mmpretrain/resnet50_multilabel-ft_8xb32-coslr-30e_coco.py',
    'mmsegmentation/fcn_r50-d8_4xb4-80k_coco-stuff164k-512x512.py',
]
TOY_CONFIGS = sorted(
    osp.relpath(p, BENCH)
    for p in glob.glob(osp.join(BENCH, '*', '*_toyscenes*.py')))
# The pretraining config whose backbone the toy transfers take.
TOY_PRETRAIN = osp.join(ROOT, 'configs', 'densecl',
                        'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
SCOPES = dict(mmdetection='mmdet', mmsegmentation='mmseg',
              mmpretrain='mmpretrain')
# MCL's transfers: backbone, FPN and (Mask R-CNN) the four box-head convs
# from tools/model_converters/extract_backbone_weights.py --with-fpn-head
# (RetinaNet, whose FPN starts at C3: --fpn-start-level 1).
MCL_CONFIGS = [
    'mmdetection/mask-rcnn_r50_fpn_mcl-fpn-head_1x_coco.py',
    'mmdetection/mask-rcnn_r50_fpn_mcl-fpn-head_ms-90k_coco.py',
    'mmdetection/mask-rcnn_r50_fpn_mcl-fpn-head_wd-2.5e-5_ms-90k_coco.py',
    'mmdetection/mask-rcnn_r50_fpn_mcl-fpn-head_ms-180k_coco.py',
    'mmdetection/retinanet_r50_fpn_mcl-fpn_ms-90k_coco.py',
    'mmdetection/retinanet_r50_fpn_mcl-fpn_ms-180k_coco.py',
]
MCL_PRETRAIN = osp.join(ROOT, 'configs', 'mcl',
                        'mcl_resnet50_32xb128-lars-coslr-100e_in1k.py')


def test_every_benchmark_config_is_listed():
    found = sorted(
        osp.relpath(p, BENCH)
        for p in glob.glob(osp.join(BENCH, '*', '*.py')))
    # Other configs (e.g. MCL's FPN + head variant) have their own tests.
    assert set(R50_CONFIGS + TOY_CONFIGS + MCL_CONFIGS +
               ['mmdetection/mask-rcnn_r50_fpn_2x_coco.py']) <= set(found)


def test_2x_is_the_1x_protocol_for_24_epochs():
    one = Config.fromfile(osp.join(BENCH, R50_CONFIGS[0]))
    two = Config.fromfile(
        osp.join(BENCH, 'mmdetection/mask-rcnn_r50_fpn_2x_coco.py'))
    assert two.model == one.model
    assert two.train_cfg.max_epochs == 24
    assert two.param_scheduler[1].milestones == [16, 22]


def test_ms_1x_is_the_1x_protocol_at_the_papers_scales():
    """detectron2's R_50_FPN_1x: shorter side drawn from 640..800 in steps
    of 32, longer side at most 1333; test at 1333x800."""
    one = Config.fromfile(osp.join(BENCH, R50_CONFIGS[0]))
    multi = Config.fromfile(osp.join(BENCH, R50_CONFIGS[1]))
    assert multi.model == one.model
    assert multi.train_cfg == one.train_cfg
    assert multi.param_scheduler == one.param_scheduler
    assert multi.test_dataloader == one.test_dataloader
    resize = [t for t in multi.train_dataloader.dataset.pipeline
              if 'Resize' in t.type]
    assert len(resize) == 1 and resize[0].type == 'RandomChoiceResize'
    assert resize[0].keep_ratio
    assert [tuple(s) for s in resize[0].scales] == [
        (1333, side) for side in range(640, 801, 32)]
    others = [t.type for t in multi.train_dataloader.dataset.pipeline
              if 'Resize' not in t.type]
    assert others == [t.type for t in one.train_dataloader.dataset.pipeline
                      if 'Resize' not in t.type]


@pytest.mark.parametrize('name', [
    'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
    'fcn_r50-d8_4xb2-40k_cityscapes-769x769.py'
])
def test_fcn_r50_losses_are_mmseg_stock(name):
    """The R50 FCN configs keep mmseg's stock cross-entropy (averaged over
    every pixel, as in the papers' mmseg versions), set explicitly."""
    ours = Config.fromfile(osp.join(BENCH, 'mmsegmentation', name))
    stock = get_config(f'mmseg::fcn/{name}')  # the installed stock file
    for head in ('decode_head', 'auxiliary_head'):
        loss = ours.model[head].loss_decode
        assert loss.avg_non_ignore is False, head
        reference = dict(stock.model[head].loss_decode)
        assert reference.get('avg_non_ignore', False) is False
        reference['avg_non_ignore'] = False
        assert dict(loss) == reference, head


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


def _extract_random_pretraining(config: str, folder) -> tuple:
    """Build a pretraining config's model at random, save it as a training
    checkpoint, run the extract tool: (path, extracted state dict)."""
    from dense_contrast.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    cfg.model.queue_len = 256
    init_default_scope('dense_contrast')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)),
               str(folder / 'epoch_1.pth'))
    out = str(folder / 'backbone.pth')
    extracted = extract_backbone_weights(str(folder / 'epoch_1.pth'), out)
    return out, extracted['state_dict']


@pytest.fixture(scope='module')
def densecl_r50_backbone(tmp_path_factory):
    """Extracted backbone of a random DenseCL R50: (path, state dict)."""
    return _extract_random_pretraining(
        'densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py',
        tmp_path_factory.mktemp('densecl_r50'))


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

    _assert_loads_exactly(cfg, scope, path, expected)


def _assert_loads_exactly(cfg: Config, scope: str, path: str,
                          expected: dict) -> None:
    """The modules a downstream config initialises from ``path`` hold
    exactly ``expected``: no missing, no unexpected key."""
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


def test_coco_pretraining_loads_into_the_ms_detector(tmp_path):
    """DenseCL's COCO pretraining: the same model as the ImageNet config
    (only data and schedule differ), and its extracted backbone loads into
    the multi-scale Mask R-CNN with no missing key."""
    coco = 'densecl/densecl_resnet50_8xb32-coslr-800e_coco.py'
    imagenet = Config.fromfile(
        osp.join(ROOT, 'configs', 'densecl',
                 'densecl_resnet50_8xb32-coslr-200e_in1k.py'))
    cfg = Config.fromfile(osp.join(ROOT, 'configs', coco))
    assert cfg.model == imagenet.model
    assert cfg.train_cfg.max_epochs == 800
    assert cfg.param_scheduler[0].T_max == 800
    assert cfg.optim_wrapper.optimizer.lr == 0.3
    assert cfg.train_dataloader.batch_size * 8 == 256
    path, expected = _extract_random_pretraining(coco, tmp_path)
    _assert_loads_exactly(
        Config.fromfile(osp.join(BENCH, R50_CONFIGS[1])), 'mmdet', path,
        expected)


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


def test_toy_fcn_256_protocols_differ_in_labels_and_schedule_only():
    """The full, 20 % and 5 % fine-tunes at 256 px: one model and pipeline
    (the backbone read as pretrained), different label fractions and
    schedules (each one's learning rate chosen on val), each poly
    schedule ending at its last iteration."""
    seg = osp.join(BENCH, 'mmsegmentation')
    protocols = {  # config -> (training images used, iterations, lr)
        'fcn_r18_1xb8-8000i_toyscenes-256x256.py': (None, 8000, 0.2),
        'fcn_r18_1xb8-1000i_toyscenes-20pct-256x256.py': (400, 1000, 0.4),
        'fcn_r18_1xb8-1000i_toyscenes-5pct-256x256.py': (100, 1000, 0.8),
    }
    cfgs = {n: Config.fromfile(osp.join(seg, n)) for n in protocols}
    models = [c.model.to_dict() for c in cfgs.values()]
    assert all(m == models[0] for m in models)
    assert models[0]['backbone']['dilations'] == (1, 1, 1, 1)
    assert models[0]['data_preprocessor']['size'] == (256, 256)
    pipelines = [c.train_pipeline for c in cfgs.values()]
    assert all(p == pipelines[0] for p in pipelines)
    for name, (images, iters, lr) in protocols.items():
        cfg = cfgs[name]
        assert cfg.optim_wrapper.optimizer.lr == lr, name
        assert cfg.train_dataloader.dataset.get('indices') == images, name
        assert cfg.train_cfg.max_iters == iters, name
        assert cfg.param_scheduler[0].end == iters, name
        assert cfg.train_cfg.val_interval == iters, name


@pytest.fixture(scope='module')
def mcl_r50_detector_weights(tmp_path_factory):
    """A random MCL R50 (the ImageNet config's model), extracted for Mask
    R-CNN (FPN from C2) and RetinaNet (from C3): {start_level: (path,
    state dict)}."""
    from dense_contrast.registry import MODELS
    from dense_contrast.utils.extract import extract_detector_weights
    init_default_scope('dense_contrast')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(MCL_PRETRAIN).model)
    generator = torch.Generator().manual_seed(0)
    online = {}
    with torch.no_grad():  # distinctive values, BN parameters included
        for key, value in model.state_dict().items():
            if key.startswith(('backbone.', 'neck.', 'region_neck.')):
                online[key] = (value + torch.rand(
                    value.shape, generator=generator)
                               if value.is_floating_point() else value)
    folder = tmp_path_factory.mktemp('mcl_r50')
    torch.save(dict(state_dict=online), str(folder / 'epoch_100.pth'))
    files = {}
    for start_level in (0, 1):
        out = str(folder / f'detector_{start_level}.pth')
        files[start_level] = (out,
                              extract_detector_weights(
                                  str(folder / 'epoch_100.pth'),
                                  out,
                                  fpn_start_level=start_level)['state_dict'])
    return files


def _point_pretrained_at(node, path):
    """Set the checkpoint of every Pretrained init_cfg (lists included)."""
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained':
            node['checkpoint'] = path
        for value in node.values():
            _point_pretrained_at(value, path)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _point_pretrained_at(value, path)


def _part(state_dict, prefix):
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


@pytest.mark.parametrize('name', MCL_CONFIGS)
def test_mcl_config_loads_backbone_fpn_and_head(name,
                                                mcl_r50_detector_weights):
    cfg = Config.fromfile(osp.join(BENCH, name))
    assert cfg.default_scope == 'mmdet'
    retinanet = name.startswith('mmdetection/retinanet')
    # The authors' detectron2 protocol (every config but the older
    # single-scale mmdet 1x): multi-scale 640-800, 90k/180k iterations of
    # 16 images, no decay on norms, precise BN.
    if '_ms-' in name:
        resize = cfg.train_dataloader.dataset.pipeline[2]
        assert resize.type == 'RandomChoiceResize'
        assert [s[1] for s in resize.scales] == list(range(640, 801, 32))
        assert cfg.train_cfg.type == 'IterBasedTrainLoop'
        iters = 180000 if '180k' in name else 90000
        assert cfg.train_cfg.max_iters == iters
        assert cfg.param_scheduler[1].milestones == (
            [120000, 160000] if iters == 180000 else [60000, 80000])
        assert cfg.optim_wrapper.optimizer.lr == (0.01 if retinanet else
                                                  0.02)
        assert cfg.optim_wrapper.optimizer.weight_decay == (
            2.5e-5 if 'wd-2.5e-5' in name else 1e-4)
        assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
        assert cfg.auto_scale_lr.base_batch_size == 16
        from mmdet.registry import HOOKS

        from dense_contrast.engine import TrainPreciseBNHook
        init_default_scope('mmdet')
        (hook, ) = [HOOKS.build(h) for h in cfg.custom_hooks]
        assert type(hook) is TrainPreciseBNHook
        assert (hook.num_iters, hook.interval) == (200, 10000)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.model.neck.norm_cfg.type == 'SyncBN'

    path, expected = mcl_r50_detector_weights[1 if retinanet else 0]
    _point_pretrained_at(cfg.model, path)
    model = _build(cfg)
    modules = dict(backbone=model.backbone, neck=model.neck)
    if not retinanet:
        modules['roi_head.bbox_head'] = model.roi_head.bbox_head
    for prefix, module in modules.items():
        module.init_weights()
        state = module.state_dict()
        part = _part(expected, prefix + '.')
        assert part, prefix
        missing = set(state) - set(part)
        assert not set(part) - set(state), prefix
        if prefix == 'backbone':
            assert not missing
        elif prefix == 'neck':
            # Mask R-CNN's P6 is max pooling; RetinaNet's P6/P7 are new.
            new_levels = {k for k in missing if k.startswith(
                ('fpn_convs.3.', 'fpn_convs.4.'))}
            assert missing == new_levels, sorted(missing)
            assert bool(new_levels) == retinanet
        else:  # only the four shared convs are pretrained
            assert not any(k.startswith('shared_convs.') for k in missing)
        for key, value in part.items():
            assert torch.equal(state[key].cpu(), value), (prefix, key)

