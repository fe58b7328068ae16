"""Labelled splits of any mmseg dataset for the dense probes.

:func:`load_mmseg_split` reads the images and label maps of an mmseg
dataset (``PascalVOCDataset``, ``ADE20KDataset``, ``CityscapesDataset``,
``COCOStuffDataset``, a ``BaseSegDataset`` folder, ...) through mmseg's own
dataset class, with a fixed pipeline (:func:`probe_pipeline`): the shorter
side resized to ``crop_size`` and the centre ``crop_size`` square cut out,
so every image of a split has one size and can be stacked. Labels keep
mmseg's conventions: the dataset's ``reduce_zero_label`` and label map are
applied, and 255 marks unlabelled pixels.

:func:`split_configs` turns what a user has (an mmseg dataset config file,
or a folder in the layout of VOC 2012, ADE20K, a generic
``img_dir/ann_dir`` folder or the toy scenes) into the two dataset configs.
:func:`write_voc_layout` copies toy-layout splits into VOC 2012's layout
(for tests and measurements on generated images).

mmseg is an optional dependency (the ``downstream`` extra), imported on
use.
"""
import copy
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from dense_contrast.utils.extras import import_optional

from .features import IMAGE_EXTENSIONS, load_segmentation_split

__all__ = [
    'probe_pipeline', 'build_mmseg_dataset', 'load_mmseg_split',
    'split_configs', 'write_voc_layout'
]


def probe_pipeline(crop_size: int) -> List[dict]:
    """The fixed pipeline of the probes' images.

    Args:
        crop_size (int): Side of the square images and label maps.

    Returns:
        list[dict]: mmseg transforms: load the image and the labels, resize
        the shorter side to ``crop_size`` (labels nearest) and cut out the
        centre square.
    """
    if crop_size < 8:
        raise ValueError(f'crop_size must be >= 8, got {crop_size}')
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        # max_size only keeps mmseg from comparing with None: no image has
        # an aspect ratio of 1000.
        dict(type='ResizeShortestEdge', scale=crop_size,
             max_size=1000 * crop_size),
        dict(type='CenterCrop', crop_size=crop_size),
    ]


def _with_pipeline(cfg: Dict[str, Any], pipeline: List[dict]) -> dict:
    """A copy of a dataset config whose datasets use ``pipeline`` (wrappers
    such as ``ConcatDataset`` pass it on to their ``datasets``)."""
    cfg = copy.deepcopy(dict(cfg))
    if 'datasets' in cfg:
        cfg['datasets'] = [_with_pipeline(c, pipeline)
                           for c in cfg['datasets']]
    elif 'dataset' in cfg:
        cfg['dataset'] = _with_pipeline(cfg['dataset'], pipeline)
    else:
        cfg['pipeline'] = pipeline
    return cfg


def build_mmseg_dataset(dataset_cfg: Dict[str, Any],
                        crop_size: int) -> Any:
    """Build an mmseg dataset with the probes' pipeline.

    Args:
        dataset_cfg (dict): The dataset's config as in an mmseg config
            (``type``, ``data_root``, ``data_prefix``, ``ann_file``, ...);
            its ``pipeline`` is replaced by :func:`probe_pipeline`.
        crop_size (int): Side of the images.

    Returns:
        mmengine.dataset.BaseDataset: The dataset; an item is the result
        dict of the pipeline (``img`` BGR uint8 (S, S, 3), ``gt_seg_map``
        uint8 (S, S)).

    Raises:
        MissingExtraError: If mmseg is not installed.
        ValueError: If ``dataset_cfg`` has no ``type``.
    """
    if 'type' not in dataset_cfg:
        raise ValueError(
            f'mmseg dataset config {dict(dataset_cfg)} has no "type" (e.g. '
            "'PascalVOCDataset', 'ADE20KDataset', 'BaseSegDataset')")
    feature = 'dense probes on an mmseg dataset'
    mmseg_utils = import_optional('mmseg.utils', feature)
    registry = import_optional('mmseg.registry', feature)
    from mmengine.registry import DefaultScope
    mmseg_utils.register_all_modules(init_default_scope=False)
    cfg = _with_pipeline(dataset_cfg, probe_pipeline(crop_size))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return registry.DATASETS.build(cfg)


def load_mmseg_split(dataset_cfg: Dict[str, Any],
                     num_images: Optional[int] = None,
                     crop_size: int = 224
                     ) -> Tuple[Tensor, Tensor, List[str], Optional[int]]:
    """Read the first images of an mmseg dataset, resized and cropped to one
    size (:func:`probe_pipeline`).

    Memory: ``4 * num_images * crop_size ** 2`` bytes (uint8 RGB images
    and uint8 labels), e.g. 200 MB for 1,000 images at 224 px.

    Args:
        dataset_cfg (dict): The dataset's mmseg config (see
            :func:`build_mmseg_dataset`).
        num_images (int, optional): Read the first ``num_images`` only.
            Defaults to None (all).
        crop_size (int): Side of the images. Defaults to 224.

    Returns:
        tuple: Images (N, 3, S, S) uint8 RGB, labels (N, S, S) uint8 (255
        unlabelled), the image paths, and the number of classes of the
        dataset's metainfo (None when it names none).

    Raises:
        MissingExtraError: If mmseg is not installed.
        ValueError: If the dataset holds fewer images than requested, or a
            label map does not fit its image.
    """
    dataset = build_mmseg_dataset(dataset_cfg, crop_size)
    total = len(dataset)
    if num_images is not None and total < num_images:
        raise ValueError(
            f'mmseg dataset {dataset_cfg.get("type")} at '
            f'{dataset_cfg.get("data_root")!r} holds {total} images, fewer '
            f'than the {num_images} requested')
    count = total if num_images is None else num_images
    if count == 0:
        raise FileNotFoundError(
            f'mmseg dataset {dataset_cfg.get("type")} at '
            f'{dataset_cfg.get("data_root")!r} holds no images')
    images = torch.empty(count, 3, crop_size, crop_size, dtype=torch.uint8)
    labels = torch.empty(count, crop_size, crop_size, dtype=torch.uint8)
    paths = []
    for i in range(count):
        item = dataset[i]
        img, seg = item['img'], item['gt_seg_map']
        if img.shape[:2] != (crop_size, crop_size) or \
                seg.shape != (crop_size, crop_size):
            raise ValueError(
                f'{item.get("img_path")}: image {img.shape[:2]} and label '
                f'map {seg.shape} after the probe pipeline, expected '
                f'({crop_size}, {crop_size}) both; check that the label '
                'map has the size of its image')
        # mmcv reads BGR; the probes hold RGB.
        images[i] = torch.from_numpy(
            np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1)))
        labels[i] = torch.from_numpy(seg.astype(np.uint8))
        paths.append(item.get('img_path', str(i)))
    classes = dataset.metainfo.get('classes')
    return images, labels, paths, len(classes) if classes else None


def _first_suffix(folder: str) -> str:
    for name in sorted(os.listdir(folder)):
        if name.lower().endswith(IMAGE_EXTENSIONS):
            return osp.splitext(name)[1]
    raise FileNotFoundError(f'no image in {folder!r}')


def split_configs(
        data: str,
        data_root: Optional[str] = None,
        splits: Tuple[str, str] = ('train', 'val')
) -> Optional[Tuple[dict, dict]]:
    """The mmseg dataset configs of the fitting and the evaluation split.

    ``data`` is one of:

    - an mmseg dataset config file (``.py``, e.g. mmseg's
      ``configs/_base_/datasets/ade20k.py``): its ``train_dataloader`` and
      ``val_dataloader`` datasets (``splits`` is not used);
    - a VOC 2012 folder (``JPEGImages/``, ``SegmentationClass/``,
      ``ImageSets/Segmentation/{split}.txt``): ``PascalVOCDataset``;
    - an ADE20K folder (``images/training``, ``annotations/training``,
      ``.../validation``): ``ADE20KDataset`` (``reduce_zero_label``);
    - a generic folder ``img_dir/{split}/``, ``ann_dir/{split}/`` (label
      maps ``.png``, the image suffix read from the folder):
      ``BaseSegDataset`` (pass the number of classes to the probes);
    - a toy scenes folder (``{split}/images``, ``{split}/semantic``): None,
      read by :func:`~.features.load_segmentation_split` instead.

    Args:
        data (str): Config file or folder.
        data_root (str, optional): Replaces the ``data_root`` of a config
            file's datasets. Defaults to None.
        splits (tuple[str, str]): Fitting and evaluation split names of a
            folder. For ADE20K 'train'/'val' mean 'training'/'validation'.
            Defaults to ('train', 'val').

    Returns:
        tuple[dict, dict] or None: The two dataset configs, or None for the
        toy scenes layout.

    Raises:
        FileNotFoundError: If ``data`` does not exist or its layout is none
            of the above.
    """
    if osp.isfile(data) and data.endswith('.py'):
        from mmengine.config import Config
        cfg = Config.fromfile(data)
        out = []
        for key in ('train_dataloader', 'val_dataloader'):
            if key not in cfg or 'dataset' not in cfg[key]:
                raise ValueError(f'{data}: no {key}.dataset (an mmseg '
                                 'dataset config is expected)')
            dataset = cfg[key]['dataset'].to_dict()
            if data_root is not None:
                dataset['data_root'] = data_root
            out.append(dataset)
        return out[0], out[1]
    if not osp.isdir(data):
        raise FileNotFoundError(
            f'--data {data!r}: neither an mmseg config file (.py) nor a '
            'folder')
    train, val = splits
    if osp.isdir(osp.join(data, 'ImageSets', 'Segmentation')):
        return tuple(
            dict(type='PascalVOCDataset', data_root=data,
                 data_prefix=dict(img_path='JPEGImages',
                                  seg_map_path='SegmentationClass'),
                 ann_file=f'ImageSets/Segmentation/{split}.txt')
            for split in (train, val))
    if osp.isdir(osp.join(data, 'images', 'training')):
        names = {'train': 'training', 'val': 'validation'}
        return tuple(
            dict(type='ADE20KDataset', data_root=data,
                 data_prefix=dict(
                     img_path=f'images/{names.get(split, split)}',
                     seg_map_path=f'annotations/{names.get(split, split)}'))
            for split in (train, val))
    if osp.isdir(osp.join(data, 'img_dir', train)):
        suffix = _first_suffix(osp.join(data, 'img_dir', train))
        return tuple(
            dict(type='BaseSegDataset', data_root=data,
                 img_suffix=suffix, seg_map_suffix='.png',
                 data_prefix=dict(img_path=f'img_dir/{split}',
                                  seg_map_path=f'ann_dir/{split}'))
            for split in (train, val))
    if osp.isdir(osp.join(data, train, 'images')):
        return None
    raise FileNotFoundError(
        f'--data {data!r}: no known layout. Expected a VOC 2012 folder '
        '(ImageSets/Segmentation, JPEGImages, SegmentationClass), an ADE20K '
        'folder (images/training, annotations/training), img_dir/{split} + '
        'ann_dir/{split}, {split}/images + {split}/semantic (toy scenes), '
        'or an mmseg dataset config file')


def write_voc_layout(src_root: str,
                     dst_root: str,
                     splits: Sequence[str] = ('train', 'val'),
                     num_images: Optional[int] = None,
                     pad: int = 0) -> str:
    """Copy labelled splits of the toy scenes layout into VOC 2012's.

    Writes ``JPEGImages/{split}_{stem}.jpg``,
    ``SegmentationClass/{split}_{stem}.png`` and
    ``ImageSets/Segmentation/{split}.txt``. The images are PNG-encoded
    under VOC's ``.jpg`` names (mmcv decodes by content), so they stay
    lossless. With ``pad > 0`` image ``i`` gets ``pad * (i % 3)`` pixels on
    both sides, left and right for even ``i``, top and bottom for odd ``i``
    (black image, label 255), so the images differ in size while the centre
    crop of the original side recovers the original exactly.

    Args:
        src_root (str): A folder with ``{split}/images`` and
            ``{split}/semantic`` (:func:`load_segmentation_split`).
        dst_root (str): The VOC folder to write (created).
        splits (Sequence[str]): Splits copied. Defaults to ('train',
            'val').
        num_images (int, optional): First images of each split. Defaults
            to None (all).
        pad (int): Padding step in pixels. Defaults to 0.

    Returns:
        str: ``dst_root``.
    """
    if pad < 0:
        raise ValueError(f'pad must be >= 0, got {pad}')
    for sub in ('JPEGImages', 'SegmentationClass',
                osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(dst_root, sub), exist_ok=True)
    for split in splits:
        images, labels, names = load_segmentation_split(
            src_root, split, num_images)
        stems = []
        for i, (img, seg, name) in enumerate(zip(images, labels, names)):
            img = img.permute(1, 2, 0).numpy()
            seg = seg.numpy().astype(np.uint8)
            width = pad * (i % 3)
            if width:
                spec = ((0, 0), (width, width)) if i % 2 == 0 else \
                    ((width, width), (0, 0))
                img = np.pad(img, spec + ((0, 0), ), constant_values=0)
                seg = np.pad(seg, spec, constant_values=255)
            stem = f'{split}_{osp.splitext(name)[0]}'
            Image.fromarray(img).save(
                osp.join(dst_root, 'JPEGImages', f'{stem}.jpg'), format='PNG')
            Image.fromarray(seg).save(
                osp.join(dst_root, 'SegmentationClass', f'{stem}.png'))
            stems.append(stem)
        with open(osp.join(dst_root, 'ImageSets', 'Segmentation',
                           f'{split}.txt'), 'w') as f:
            f.write('\n'.join(stems) + '\n')
    return dst_root
