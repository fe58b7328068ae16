"""MCL's transfer: backbone, FPN and region-head convs load into mmdet's
ResNet, FPN and Shared4Conv1FCBBoxHead (SyncBN) with equal tensors."""
import os.path as osp
import subprocess
import sys

import torch
from mmengine.registry import DefaultScope

import dense_contrast  # noqa: F401
from dense_contrast.registry import MODELS
from dense_contrast.utils.extract import extract_detector_weights

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters',
                'extract_backbone_weights.py')
C = 16
SYNC_BN = dict(type='SyncBN', requires_grad=True)


def _mcl():
    bn1d = dict(type='BN1d')
    model = MODELS.build(
        dict(
            type='MCL',
            backbone=dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3)),
            neck=dict(
                type='mmdet.FPN',
                in_channels=[64, 128, 256, 512],
                out_channels=C,
                num_outs=4,
                norm_cfg=dict(type='BN')),
            region_neck=dict(
                type='RegionEmbeddingNeck',
                in_channels=C,
                hid_channels=8,
                out_channels=8,
                mlp_norm_cfg=bn1d),
            head=dict(
                type='MultiLevelContrastHead',
                predictor=dict(
                    type='NonLinearNeck',
                    in_channels=8,
                    hid_channels=8,
                    out_channels=8,
                    with_avg_pool=False,
                    norm_cfg=bn1d))))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # distinctive values, BN statistics included
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) +
                             0.5)
    return model


def _detector_parts():
    from mmdet.registry import MODELS as MMDET_MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        backbone = MMDET_MODELS.build(
            dict(type='ResNet', depth=18, norm_cfg=SYNC_BN))
        # Mask R-CNN's FPN: 5 outputs, the fifth by max pooling (no weights).
        fpn = MMDET_MODELS.build(
            dict(
                type='FPN',
                in_channels=[64, 128, 256, 512],
                out_channels=C,
                num_outs=5,
                norm_cfg=SYNC_BN))
        bbox_head = MMDET_MODELS.build(
            dict(
                type='Shared4Conv1FCBBoxHead',
                in_channels=C,
                conv_out_channels=C,
                fc_out_channels=32,
                roi_feat_size=7,
                num_classes=3,
                norm_cfg=SYNC_BN))
    return backbone, fpn, bbox_head


def _check_loaded(model, state_dict):
    backbone, fpn, bbox_head = _detector_parts()
    for module, prefix in ((backbone, 'backbone.'), (fpn, 'neck.'),
                           (bbox_head, 'roi_head.bbox_head.')):
        part = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
        result = module.load_state_dict(part, strict=False)
        assert not result.unexpected_keys, result.unexpected_keys
        if prefix != 'roi_head.bbox_head.':
            assert not result.missing_keys, result.missing_keys
        else:  # only the shared convs are pretrained
            assert all(not k.startswith('shared_convs.')
                       for k in result.missing_keys)
    for i in range(4):
        ours = model.region_neck.shared_convs[i]
        theirs = bbox_head.shared_convs[i]
        assert torch.equal(theirs.conv.weight, ours.conv.weight)
        for key in ('weight', 'bias', 'running_mean', 'running_var'):
            assert torch.equal(getattr(theirs.bn, key), getattr(ours.bn, key))
    for ours, theirs in ((model.neck, fpn), (model.backbone, backbone)):
        theirs_state = theirs.state_dict()
        for key, value in ours.state_dict().items():
            assert torch.equal(theirs_state[key], value), key


def test_extracted_weights_load_into_mmdet_modules(tmp_path):
    model = _mcl()
    ckpt = tmp_path / 'mcl.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = tmp_path / 'detector.pth'
    extract_detector_weights(str(ckpt), str(out))
    loaded = torch.load(out, weights_only=True)
    keys = set(loaded['state_dict'])
    assert not any(k.startswith(('target.', 'head.', 'region_neck.'))
                   for k in keys)
    assert {k.split('.')[0] for k in keys} == {'backbone', 'neck', 'roi_head'}
    _check_loaded(model, loaded['state_dict'])


def test_cli_option_writes_the_same_file(tmp_path):
    model = _mcl()
    ckpt = tmp_path / 'mcl.pth'
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / 'detector.pth'
    proc = subprocess.run(
        [sys.executable, TOOL,
         str(ckpt), str(out), '--with-fpn-head'],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "prefix='neck.'" in proc.stdout
    state_dict = torch.load(out, weights_only=True)['state_dict']
    assert 'roi_head.bbox_head.shared_convs.3.conv.weight' in state_dict
    _check_loaded(model, state_dict)
    # RetinaNet's FPN starts at C3: its level 0 is MCL's level 1.
    proc = subprocess.run(
        [sys.executable, TOOL,
         str(ckpt),
         str(out), '--with-fpn-head', '--fpn-start-level', '1'],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    shifted = torch.load(out, weights_only=True)['state_dict']
    assert not any(k.startswith(('neck.lateral_convs.3', 'neck.fpn_convs.3'))
                   for k in shifted)
    for kind in ('lateral_convs', 'fpn_convs'):
        for level in range(3):
            ours = getattr(model.neck, kind)[level + 1]
            assert torch.equal(shifted[f'neck.{kind}.{level}.conv.weight'],
                               ours.conv.weight)
            assert torch.equal(shifted[f'neck.{kind}.{level}.bn.bias'],
                               ours.bn.bias)
    assert torch.equal(shifted['backbone.conv1.weight'],
                       state_dict['backbone.conv1.weight'])
    # A checkpoint without an FPN gives the named error of select_submodule.
    torch.save({'backbone.conv1.weight': torch.ones(1)}, ckpt)
    proc = subprocess.run(
        [sys.executable, TOOL,
         str(ckpt), str(out), '--with-fpn-head'],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT)
    assert proc.returncode == 1 and "'neck.'" in proc.stderr
