"""The dense probes on an mmseg dataset: toy scenes written in VOC 2012's
layout (images of several sizes, ignored pixels) read through mmseg's
PascalVOCDataset agree with the toy path on the same images."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dense_contrast.evaluation import (DenseProbeSuite, load_mmseg_split,
                                       load_segmentation_split,
                                       split_configs, write_voc_layout)

pytest.importorskip('mmseg')

PROBES = [
    dict(type='DenseLinearProbe', steps=10),
    dict(type='DenseKNNProbe', k=5),
    dict(type='DenseRetrievalProbe', k=5, backend='torch'),
]
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(scope='module')
def toy_and_voc(tiny_toyscenes, tmp_path_factory):
    """The tiny toy scenes with object outlines marked 255 (as VOC marks
    them), in the toy layout and in VOC's (padded to several sizes)."""
    src, toy_args = tiny_toyscenes
    root = tmp_path_factory.mktemp('toy_ignore')
    toy = str(root / 'toy')
    for split in ('train', 'val'):
        images, labels, names = load_segmentation_split(src, split)
        # A pixel whose 3 x 3 neighbourhood holds another class: ignored.
        lab = labels[:, None].float()
        edge = (F.max_pool2d(lab, 3, 1, 1) != -F.max_pool2d(-lab, 3, 1, 1))
        labels = torch.where(edge[:, 0], 255, labels)
        for sub in ('images', 'semantic'):
            os.makedirs(osp.join(toy, split, sub))
        for img, seg, name in zip(images, labels, names):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(
                osp.join(toy, split, 'images', name))
            Image.fromarray(seg.numpy().astype(np.uint8)).save(
                osp.join(toy, split, 'semantic', name))
    with open(osp.join(src, 'meta.json')) as f:
        num_classes = len(json.load(f)['seg_classes'])
    voc = write_voc_layout(toy, str(root / 'VOC2012'), pad=8)
    return toy, voc, num_classes, toy_args


def test_voc_layout_is_read_like_the_toy_layout(toy_and_voc):
    toy, voc, _, toy_args = toy_and_voc
    sizes = {
        Image.open(osp.join(voc, 'JPEGImages', n)).size
        for n in os.listdir(osp.join(voc, 'JPEGImages'))
    }
    assert len(sizes) == 5  # 64 px plus 0, 8 or 16 px on either axis
    train_cfg, val_cfg = split_configs(voc)
    assert train_cfg['type'] == 'PascalVOCDataset'
    images, labels, paths, classes = load_mmseg_split(
        train_cfg, crop_size=toy_args['img_size'])
    assert classes == 21  # VOC's metainfo
    toy_images, toy_labels, _ = load_segmentation_split(toy, 'train')
    assert torch.equal(images, toy_images)
    assert torch.equal(labels.long(), toy_labels)
    assert (labels == 255).any() and labels.dtype == torch.uint8
    assert len(paths) == toy_args['num_train']


def test_probes_agree_on_both_paths(toy_and_voc):
    from mmpretrain.models import ResNet
    toy, voc, num_classes, toy_args = toy_and_voc
    train_cfg, val_cfg = split_configs(voc)
    common = dict(probes=PROBES, num_train=toy_args['num_train'],
                  num_val=2, num_classes=num_classes, stage=2)
    backbone = ResNet(depth=18, base_channels=16)
    from_toy = DenseProbeSuite(toy, **common)(backbone, MEAN, STD)
    from_voc = DenseProbeSuite(
        train_dataset=train_cfg, val_dataset=val_cfg,
        crop_size=toy_args['img_size'], **common)(backbone, MEAN, STD)
    assert set(from_toy) == {
        f'{p}_{s}' for p in ('linear', 'knn', 'retrieval')
        for s in ('mIoU', 'aAcc')
    }
    assert from_voc == pytest.approx(from_toy, abs=1e-6)
    assert all(0.0 <= v <= 100.0 for v in from_toy.values())


def test_split_configs_layouts_and_errors(toy_and_voc, tmp_path):
    toy, voc, _, _ = toy_and_voc
    assert split_configs(toy) is None
    ade = tmp_path / 'ade'
    for sub in ('images/training', 'annotations/training'):
        (ade / sub).mkdir(parents=True)
    train_cfg, val_cfg = split_configs(str(ade))
    assert train_cfg['type'] == 'ADE20KDataset'
    assert val_cfg['data_prefix']['img_path'] == 'images/validation'
    generic = tmp_path / 'generic'
    (generic / 'img_dir' / 'train').mkdir(parents=True)
    Image.new('RGB', (8, 8)).save(generic / 'img_dir' / 'train' / 'a.jpg')
    train_cfg, _ = split_configs(str(generic))
    assert train_cfg['type'] == 'BaseSegDataset'
    assert train_cfg['img_suffix'] == '.jpg'
    # An mmseg dataset config file, with its data_root replaced.
    cfg_file = tmp_path / 'voc_data.py'
    cfg_file.write_text(
        "train_dataloader = dict(dataset=dict(type='PascalVOCDataset', "
        "data_root='data/VOCdevkit/VOC2012', ann_file='a.txt'))\n"
        "val_dataloader = dict(dataset=dict(type='PascalVOCDataset', "
        "data_root='data/VOCdevkit/VOC2012', ann_file='b.txt'))\n")
    train_cfg, val_cfg = split_configs(str(cfg_file), data_root=voc)
    assert train_cfg['data_root'] == voc and val_cfg['ann_file'] == 'b.txt'
    with pytest.raises(FileNotFoundError, match='no known layout'):
        split_configs(str(tmp_path / 'ade' / 'images'))
    with pytest.raises(ValueError, match='either data_root'):
        DenseProbeSuite(toy, train_dataset=train_cfg, val_dataset=val_cfg)
    with pytest.raises(ValueError, match='fewer than'):
        load_mmseg_split(split_configs(voc)[1], num_images=50, crop_size=64)
