"""tools/model_converters/convert_weights.py and dense_contrast.converters.

Source checkpoints are built in the published layouts (the DenseCL and MCL
authors' OpenSelfSup models, mmpretrain's DenseCL and MoCo) with the key
names and shapes of those models and random values; nothing is downloaded.
"""
import importlib.util
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import dense_contrast  # noqa: F401  (registers the project's types)
from dense_contrast.converters import (DETECTRON2_AUTHOR, WeightLayoutError,
                                       backbone_to_detectron2,
                                       backbone_to_torchvision,
                                       convert_weights, detectron2_to_backbone,
                                       torchvision_to_backbone)
from dense_contrast.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters', 'convert_weights.py')
IN1K_CONFIG = osp.join(REPO_ROOT, 'configs', 'densecl',
                       'densecl_resnet50_8xb32-coslr-200e_in1k.py')
TOY_CONFIG = osp.join(REPO_ROOT, 'configs', 'densecl',
                      'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')


def _tool_main():
    spec = importlib.util.spec_from_file_location('convert_weights', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _random_like(shape, generator, integer=False):
    if integer:
        return torch.full(shape, 7, dtype=torch.long)
    return torch.randn(shape, generator=generator)


def _resnet_state(depth, generator, **kwargs):
    """A ResNet's names and shapes (mmpretrain's, the same as OpenSelfSup's
    mmdet-style ResNet) with distinctive values."""
    from mmpretrain.models import ResNet
    state = ResNet(depth=depth, **kwargs).state_dict()
    return {
        k: _random_like(v.shape, generator, not v.is_floating_point())
        for k, v in state.items()
    }


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


def _shifted(state):
    """A momentum copy that differs from the online weights."""
    return {
        k: v + 1 if v.is_floating_point() else v.clone()
        for k, v in state.items()
    }


def openselfsup_densecl_state(depth=50, hid=2048, dim=128, length=65536):
    """The state dict of the DenseCL authors' model: ``encoder_q`` =
    Sequential(ResNet, DenseCLNeck), ``encoder_k`` its copy, ``backbone``
    the online ResNet registered again, and the two queues."""
    generator = torch.Generator().manual_seed(0)
    resnet = _resnet_state(depth, generator)
    channels = 512 if depth < 50 else 2048
    neck = {
        'mlp.0.weight': torch.randn(hid, channels, generator=generator),
        'mlp.0.bias': torch.randn(hid, generator=generator),
        'mlp.2.weight': torch.randn(dim, hid, generator=generator),
        'mlp.2.bias': torch.randn(dim, generator=generator),
        'mlp2.0.weight': torch.randn(hid, channels, 1, 1,
                                     generator=generator),
        'mlp2.0.bias': torch.randn(hid, generator=generator),
        'mlp2.2.weight': torch.randn(dim, hid, 1, 1, generator=generator),
        'mlp2.2.bias': torch.randn(dim, generator=generator),
    }
    state = {
        'queue': torch.randn(dim, length, generator=generator),
        'queue_ptr': torch.tensor([3]),
        'queue2': torch.randn(dim, length, generator=generator),
        'queue2_ptr': torch.tensor([5]),
    }
    state.update(_prefixed(resnet, 'encoder_q.0.'))
    state.update(_prefixed(neck, 'encoder_q.1.'))
    state.update(_prefixed(_shifted(resnet), 'encoder_k.0.'))
    state.update(_prefixed(_shifted(neck), 'encoder_k.1.'))
    state.update(_prefixed(resnet, 'backbone.'))
    return state


def openselfsup_mcl_state(channels=16, num_convs=4):
    """The state dict of the MCL authors' model on a ResNet-18:
    ``encoder_q`` = Sequential(ResNet, FPN with BN, DetConvGpNonLinearHead),
    ``encoder_k`` its copy, ``backbone`` the ResNet again, ``head`` the
    per-level predictors (NonLinearNeckV2)."""
    generator = torch.Generator().manual_seed(1)

    def bn(prefix, width):
        return {
            f'{prefix}.weight': torch.rand(width, generator=generator) + .5,
            f'{prefix}.bias': torch.randn(width, generator=generator),
            f'{prefix}.running_mean': torch.randn(width, generator=generator),
            f'{prefix}.running_var': torch.rand(width, generator=generator) +
            .5,
            f'{prefix}.num_batches_tracked': torch.tensor(7),
        }

    def conv_module(prefix, cin, cout, k):
        out = {
            f'{prefix}.conv.weight':
            torch.randn(cout, cin, k, k, generator=generator)
        }
        out.update(bn(f'{prefix}.bn', cout))
        return out

    resnet = _resnet_state(18, generator)
    fpn, region, head = {}, {}, {}
    for i, cin in enumerate((64, 128, 256, 512)):
        fpn.update(conv_module(f'lateral_convs.{i}', cin, channels, 1))
        fpn.update(conv_module(f'fpn_convs.{i}', channels, channels, 3))
    for i in range(num_convs):
        region.update(conv_module(f'cls_convs.{i}', channels, channels, 3))
    region.update({
        'mlp.0.weight': torch.randn(32, channels, generator=generator),
        'mlp.0.bias': torch.randn(32, generator=generator),
        'mlp.3.weight': torch.randn(channels, 32, generator=generator),
        'mlp.3.bias': torch.randn(channels, generator=generator),
    })
    region.update(bn('mlp.1', 32))
    region.update({
        k: v
        for k, v in bn('mlp.4', channels).items()
        if not k.endswith(('.weight', '.bias'))
    })
    for level in range(4):
        head[f'predictor.{level}.mlp.0.weight'] = torch.randn(
            32, channels, generator=generator)
        head.update(bn(f'predictor.{level}.mlp.1', 32))
    state = {}
    for name, part in (('0', resnet), ('1', fpn), ('2', region)):
        state.update(_prefixed(part, f'encoder_q.{name}.'))
        state.update(_prefixed(_shifted(part), f'encoder_k.{name}.'))
    state.update(_prefixed(resnet, 'backbone.'))
    state.update(_prefixed(head, 'head.'))
    return state


def _save(path, state_dict, **extra):
    torch.save(dict(state_dict=state_dict, **extra), path)
    return str(path)


def _build_in1k(**overrides):
    cfg = Config.fromfile(IN1K_CONFIG)
    model_cfg = cfg.model.copy()
    model_cfg.update(overrides)
    with DefaultScope.overwrite_default_scope('dense_contrast'):
        return MODELS.build(model_cfg)


def _no_leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith('.tmp')]


# ---------------------------------------------------------------- weights in


def test_openselfsup_densecl_r50_loads_strict_into_in1k_densecl(tmp_path):
    source = openselfsup_densecl_state()
    src = _save(
        tmp_path / 'densecl_authors.pth',
        source,
        meta=dict(epoch=200, iter=1000),
        optimizer=dict(state={}, param_groups=[]))
    out = tmp_path / 'densecl_dc.pth'
    saved = convert_weights(src, str(out), 'openselfsup-densecl',
                            'dense_contrast')
    loaded = torch.load(out, weights_only=True)
    assert loaded['meta']['algorithm'] == 'DenseCL'
    assert loaded['meta']['source_layout'] == 'openselfsup-densecl'
    model = _build_in1k()
    model.load_state_dict(loaded['state_dict'], strict=True)
    assert set(loaded['state_dict']) == set(model.state_dict())
    state = model.state_dict()
    assert torch.equal(state['backbone.layer4.2.bn3.running_var'],
                       source['encoder_q.0.layer4.2.bn3.running_var'])
    assert torch.equal(state['encoder_k.module.0.conv1.weight'],
                       source['encoder_k.0.conv1.weight'])
    assert torch.equal(state['neck.global_mlp.2.weight'],
                       source['encoder_q.1.mlp.2.weight'])
    assert torch.equal(state['encoder_k.module.1.dense_mlp.0.weight'],
                       source['encoder_k.1.mlp2.0.weight'])
    assert torch.equal(state['dense_queue.feats'], source['queue2'])
    assert int(state['global_queue.ptr']) == 3
    # the key encoder counts as averaged: the first update keeps it
    assert int(state['encoder_k.steps']) == 1000
    assert len(saved['state_dict']) == len(state)
    # the same, checked against the config's model instead of the inferred
    checked = tmp_path / 'densecl_checked.pth'
    convert_weights(src, str(checked), 'openselfsup-densecl',
                    'dense_contrast', config=IN1K_CONFIG)
    assert torch.load(checked, weights_only=True)['state_dict'].keys() == \
        loaded['state_dict'].keys()

    backbone = tmp_path / 'backbone.pth'
    convert_weights(src, str(backbone), 'openselfsup-densecl', 'backbone')
    weights = torch.load(backbone, weights_only=True)['state_dict']
    model.backbone.load_state_dict(weights, strict=True)
    assert torch.equal(weights['conv1.weight'],
                       source['encoder_q.0.conv1.weight'])


def test_mmpretrain_densecl_and_moco_r50_load_strict(tmp_path):
    model = _build_in1k()
    cfg = Config.fromfile(IN1K_CONFIG).model
    with DefaultScope.overwrite_default_scope('dense_contrast'):
        mm_densecl = MODELS.build(
            dict(
                type='mmpretrain.DenseCL',
                queue_len=cfg.queue_len,
                feat_dim=cfg.feat_dim,
                momentum=1 - cfg.momentum,
                backbone=dict(type='mmpretrain.ResNet', **{
                    k: v
                    for k, v in cfg.backbone.items() if k != 'type'
                }),
                neck=dict(
                    type='mmpretrain.DenseCLNeck',
                    in_channels=2048,
                    hid_channels=2048,
                    out_channels=cfg.feat_dim),
                head=dict(
                    type='mmpretrain.ContrastiveHead',
                    loss=dict(type='mmpretrain.CrossEntropyLoss'),
                    temperature=0.2)))
    src = _save(tmp_path / 'mm_densecl.pth', mm_densecl.state_dict())
    out = tmp_path / 'dc.pth'
    convert_weights(src, str(out), 'mmpretrain', 'dense_contrast')
    state = torch.load(out, weights_only=True)['state_dict']
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.neck.dense_mlp[2].weight,
                       mm_densecl.neck.mlp2[2].weight)
    assert torch.equal(model.global_queue.feats, mm_densecl.queue)
    del mm_densecl, model

    # MoCo v2: this project trains it with mmpretrain's MoCo, so the
    # converted file is mmpretrain's layout, checked against that model
    # with the ImageNet config's backbone and queue.
    with DefaultScope.overwrite_default_scope('dense_contrast'):
        moco_cfg = dict(
            type='mmpretrain.MoCo',
            queue_len=cfg.queue_len,
            feat_dim=cfg.feat_dim,
            momentum=1 - cfg.momentum,
            backbone=cfg.backbone,
            neck=dict(
                type='MoCoV2Neck',
                in_channels=2048,
                hid_channels=2048,
                out_channels=cfg.feat_dim,
                with_avg_pool=True),
            head=dict(
                type='ContrastiveHead',
                loss=dict(type='CrossEntropyLoss'),
                temperature=0.2))
        moco_src = MODELS.build(moco_cfg)
        moco_dst = MODELS.build(moco_cfg)
    src = _save(tmp_path / 'mm_moco.pth', moco_src.state_dict())
    convert_weights(src, str(out), 'mmpretrain', 'dense_contrast')
    loaded = torch.load(out, weights_only=True)
    assert loaded['meta']['algorithm'] == 'MoCo'
    moco_dst.load_state_dict(loaded['state_dict'], strict=True)
    assert torch.equal(moco_dst.queue, moco_src.queue)
    tv = tmp_path / 'moco_tv.pth'
    convert_weights(src, str(tv), 'mmpretrain', 'torchvision')
    assert torch.equal(
        torch.load(tv, weights_only=True)['layer3.5.conv2.weight'],
        moco_src.backbone.layer3[5].conv2.weight)


def test_backbone_only_files(tmp_path):
    """The authors' extract_backbone_weights.py output (bare ResNet keys
    and an 'author' entry) converts to every backbone format, not to a
    whole model."""
    generator = torch.Generator().manual_seed(2)
    resnet = _resnet_state(50, generator)
    src = _save(tmp_path / 'extracted.pth', resnet, author='DenseCL')
    out = tmp_path / 'r50.pth'
    convert_weights(src, str(out), 'openselfsup-densecl', 'backbone')
    weights = torch.load(out, weights_only=True)['state_dict']
    assert weights.keys() == resnet.keys()
    with pytest.raises(ValueError, match='only DenseCL'):
        convert_weights(src, str(tmp_path / 'x.pth'), 'openselfsup-densecl',
                        'dense_contrast')
    assert not (tmp_path / 'x.pth').exists()
    # an mmpretrain backbone-only file, older files without BN counters
    trimmed = {
        'backbone.' + k: v
        for k, v in resnet.items() if not k.endswith('num_batches_tracked')
    }
    src = _save(tmp_path / 'mm_backbone.pth', trimmed)
    convert_weights(src, str(out), 'mmpretrain', 'backbone')
    weights = torch.load(out, weights_only=True)['state_dict']
    assert weights.keys() == resnet.keys()
    assert int(weights['bn1.num_batches_tracked']) == 0


def _detector_parts(channels):
    from mmdet.registry import MODELS as MMDET_MODELS
    sync_bn = dict(type='SyncBN', requires_grad=True)
    with DefaultScope.overwrite_default_scope('mmdet'):
        backbone = MMDET_MODELS.build(
            dict(type='ResNet', depth=18, norm_cfg=sync_bn))
        fpn = MMDET_MODELS.build(
            dict(
                type='FPN',
                in_channels=[64, 128, 256, 512],
                out_channels=channels,
                num_outs=5,
                norm_cfg=sync_bn))
        bbox_head = MMDET_MODELS.build(
            dict(
                type='Shared4Conv1FCBBoxHead',
                in_channels=channels,
                conv_out_channels=channels,
                fc_out_channels=32,
                roi_feat_size=7,
                num_classes=3,
                norm_cfg=sync_bn))
    return backbone, fpn, bbox_head


def test_openselfsup_mcl_to_detector_layout(tmp_path):
    source = openselfsup_mcl_state()
    src = _save(tmp_path / 'mcl_authors.pth', source)
    out = tmp_path / 'detector.pth'
    convert_weights(src, str(out), 'openselfsup-mcl', 'detector')
    state = torch.load(out, weights_only=True)['state_dict']
    assert {k.split('.')[0] for k in state} == {'backbone', 'neck', 'roi_head'}
    backbone, fpn, bbox_head = _detector_parts(16)
    for module, prefix in ((backbone, 'backbone.'), (fpn, 'neck.')):
        module.load_state_dict(
            {k[len(prefix):]: v
             for k, v in state.items() if k.startswith(prefix)},
            strict=True)
    convs = {
        k[len('roi_head.bbox_head.'):]: v
        for k, v in state.items() if k.startswith('roi_head.bbox_head.')
    }
    bbox_head.shared_convs.load_state_dict(
        {k[len('shared_convs.'):]: v
         for k, v in convs.items()}, strict=True)
    assert torch.equal(bbox_head.shared_convs[3].bn.running_var,
                       source['encoder_q.2.cls_convs.3.bn.running_var'])
    assert torch.equal(fpn.lateral_convs[2].conv.weight,
                       source['encoder_q.1.lateral_convs.2.conv.weight'])
    assert torch.equal(backbone.layer2[1].conv2.weight,
                       source['encoder_q.0.layer2.1.conv2.weight'])
    # the detector layout of this project's own MCL checkpoints is the same
    again = tmp_path / 'again.pth'
    mcl_ckpt = _save(tmp_path / 'mcl_dc.pth', {
        k.replace('roi_head.bbox_head.', 'region_neck.'): v
        for k, v in state.items()
    })
    convert_weights(mcl_ckpt, str(again), 'dense_contrast', 'detector')
    assert torch.load(again, weights_only=True)['state_dict'].keys() == \
        state.keys()


# --------------------------------------------------------------- weights out


@pytest.mark.parametrize('depth', [18, 50])
def test_torchvision_export_gives_the_same_features(depth):
    import torchvision
    from mmpretrain.models import ResNet
    ours = ResNet(depth=depth, out_indices=(3, ))
    ours.eval()  # mmpretrain's ResNet.train() does not return the module
    generator = torch.Generator().manual_seed(depth)
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif name.endswith('running_mean'):
                tensor.normal_(0, 0.1, generator=generator)
    exported = backbone_to_torchvision(ours.state_dict())
    # fc is not exported: replace it, then the load is strict
    theirs = getattr(torchvision.models, f'resnet{depth}')()
    theirs.fc = torch.nn.Identity()
    theirs.load_state_dict(exported, strict=True)
    theirs.eval()
    images = torch.randn(2, 3, 96, 96, generator=generator)
    with torch.no_grad():
        expected = ours(images)[0]
        trunk = torch.nn.Sequential(*list(theirs.children())[:-2])
        got = trunk(images)
        pooled = theirs(images)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        pooled, expected.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)
    fresh = getattr(torchvision.models, f'resnet{depth}')()
    result = fresh.load_state_dict(exported, strict=False)
    assert sorted(result.missing_keys) == ['fc.bias', 'fc.weight']
    assert not result.unexpected_keys
    assert torchvision_to_backbone(fresh.state_dict()).keys() == \
        ours.state_dict().keys()


def test_detectron2_export_names_shapes_and_round_trip(tmp_path):
    generator = torch.Generator().manual_seed(3)
    resnet = _resnet_state(50, generator)
    model = backbone_to_detectron2(resnet)
    assert len(model) == len(resnet)
    expected_shapes = {
        'stem.conv1.weight': (64, 3, 7, 7),
        'stem.conv1.norm.running_var': (64, ),
        'res2.0.conv1.weight': (64, 64, 1, 1),
        'res2.0.conv2.norm.bias': (64, ),
        'res2.0.conv3.norm.weight': (256, ),
        'res2.0.shortcut.weight': (256, 64, 1, 1),
        'res2.0.shortcut.norm.running_mean': (256, ),
        'res3.3.conv2.weight': (128, 128, 3, 3),
        'res4.5.conv3.weight': (1024, 256, 1, 1),
        'res5.0.shortcut.weight': (2048, 1024, 1, 1),
        'res5.2.conv3.norm.running_var': (2048, ),
    }
    for key, shape in expected_shapes.items():
        assert model[key].shape == shape, key
    assert not any(k.startswith(('layer', 'conv1', 'bn1')) for k in model)
    assert not any('shortcut' in k for k in model
                   if not k.split('.')[1] == '0')
    assert all(k.startswith(('stem.', 'res2.', 'res3.', 'res4.', 'res5.'))
               for k in model)
    back = detectron2_to_backbone(model)
    assert back.keys() == resnet.keys()
    for key, value in resnet.items():
        assert torch.equal(back[key], value), key

    src = _save(tmp_path / 'dc.pth', _prefixed(resnet, 'backbone.'))
    out = tmp_path / 'r50.pkl'
    convert_weights(src, str(out), 'dense_contrast', 'detectron2')
    with open(out, 'rb') as f:  # written by this test: trusted
        saved = pickle.load(f)
    assert saved['__author__'] == DETECTRON2_AUTHOR
    assert saved['matching_heuristics'] is True
    assert saved['model'].keys() == model.keys()
    back = detectron2_to_backbone(saved['model'])
    for key, value in resnet.items():
        assert torch.equal(back[key], value), key


# ------------------------------------------------------------ errors and CLI


def test_cli_reports_layout_errors_and_writes_nothing(tmp_path, capsys):
    main = _tool_main()
    source = openselfsup_densecl_state(depth=18, hid=16, dim=8, length=32)
    del source['queue2']
    del source['encoder_q.1.mlp2.0.weight']
    source['encoder_q.1.extra.weight'] = torch.zeros(1)
    src = _save(tmp_path / 'broken.pth', source)
    out = tmp_path / 'out' / 'dc.pth'
    assert main([src, str(out), '--from', 'openselfsup-densecl', '--to',
                 'dense_contrast']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and src in err
    for key in ('queue2', 'encoder_q.1.mlp2.0.weight',
                'encoder_q.1.extra.weight'):
        assert key in err
    assert not out.exists()
    assert not out.parent.exists() or not _no_leftovers(out.parent)

    # another layout than declared: an mmpretrain file read as OpenSelfSup
    mm = {
        'backbone.' + k: v
        for k, v in _resnet_state(18, torch.Generator()).items()
    }
    mm['neck.mlp.0.weight'] = torch.zeros(4, 512)
    src = _save(tmp_path / 'mm.pth', mm)
    assert main([src, str(out), '--from', 'openselfsup-mcl', '--to',
                 'backbone']) == 1
    err = capsys.readouterr().err
    assert src in err and "'openselfsup-mcl' layout" in err
    # every backbone.* key (an alias without encoder_q.0) and the neck key
    assert f'{len(mm)} unexpected keys' in err and 'backbone.bn1' in err
    assert not out.exists()

    # the right layout succeeds; output next to nothing else
    src = _save(tmp_path / 'ok.pth',
                openselfsup_densecl_state(depth=18, hid=16, dim=8, length=32))
    assert main([src, str(out), '--from', 'openselfsup-densecl', '--to',
                 'dense_contrast']) == 0
    assert 'Wrote' in capsys.readouterr().out
    assert out.exists() and not _no_leftovers(out.parent)
    assert main([str(out), str(out), '--from', 'dense_contrast', '--to',
                 'backbone']) == 1
    assert 'input file' in capsys.readouterr().err


def test_config_check_names_the_shapes_that_differ(tmp_path):
    """--config: the weights must fit that config's model (here the toy
    quarter-width ResNet-18 against a full-width one)."""
    source = openselfsup_densecl_state(depth=18, hid=16, dim=8, length=32)
    src = _save(tmp_path / 'r18.pth', source)
    out = tmp_path / 'r18_dc.pth'
    with pytest.raises(WeightLayoutError) as info:
        convert_weights(src, str(out), 'openselfsup-densecl',
                        'dense_contrast', config=TOY_CONFIG)
    assert 'another shape' in str(info.value)
    assert 'encoder_q.0.conv1.weight' in str(info.value)
    assert not out.exists()
