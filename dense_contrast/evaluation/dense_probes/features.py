"""Inputs of the dense probes: read a labelled split from disk and extract a
frozen backbone's feature maps, at a chosen stage."""
import contextlib
import os
import os.path as osp
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

__all__ = ['IMAGE_EXTENSIONS', 'load_segmentation_split',
           'extract_dense_features']

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')


def load_segmentation_split(
        data_root: str,
        split: str,
        num_images: Optional[int] = None,
        img_dir: str = 'images',
        seg_dir: str = 'semantic') -> Tuple[Tensor, Tensor, List[str]]:
    """Read the first images of a split and their label maps.

    Layout (the toy scenes one): ``{data_root}/{split}/{img_dir}/NAME.png``
    and ``{data_root}/{split}/{seg_dir}/NAME.png`` (uint8 labels), matched
    by file stem, in sorted order.

    Args:
        data_root (str): Data folder.
        split (str): Split folder, e.g. 'train'.
        num_images (int, optional): Read the first ``num_images`` only.
            Defaults to None (all).
        img_dir (str): Image subfolder. Defaults to 'images'.
        seg_dir (str): Label subfolder. Defaults to 'semantic'.

    Returns:
        tuple: Images (N, 3, H, W) uint8 RGB, labels (N, H, W) int64 and
        the image file names.

    Raises:
        FileNotFoundError: If a folder or a label file is missing.
        ValueError: If the images differ in size or do not match their
            labels.
    """
    img_folder = osp.join(data_root, split, img_dir)
    seg_folder = osp.join(data_root, split, seg_dir)
    for folder in (img_folder, seg_folder):
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'Dense probe data: no folder {folder!r}. Expected '
                f'{{data_root}}/{{split}}/{img_dir}/ and '
                f'{{data_root}}/{{split}}/{seg_dir}/ (toy scenes: '
                'python tools/generate_toyscenes.py).')
    names = sorted(n for n in os.listdir(img_folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS))
    if num_images is not None:
        if len(names) < num_images:
            raise ValueError(
                f'Dense probe data: {img_folder!r} holds {len(names)} '
                f'images, fewer than the {num_images} requested')
        names = names[:num_images]
    if not names:
        raise FileNotFoundError(f'Dense probe data: no images in '
                                f'{img_folder!r}')
    images, labels = [], []
    for name in names:
        seg_path = osp.join(seg_folder, osp.splitext(name)[0] + '.png')
        if not osp.isfile(seg_path):
            raise FileNotFoundError(
                f'Dense probe data: no label map {seg_path!r} for image '
                f'{name!r}')
        with Image.open(osp.join(img_folder, name)) as img:
            images.append(np.asarray(img.convert('RGB')))
        with Image.open(seg_path) as seg:
            labels.append(np.asarray(seg))
        if images[-1].shape[:2] != labels[-1].shape[:2] or \
                images[-1].shape != images[0].shape:
            raise ValueError(
                f'Dense probe data: {name!r} has image size '
                f'{images[-1].shape[:2]} and label size '
                f'{labels[-1].shape[:2]}; all images and labels of a split '
                f'must share one size (first: {images[0].shape[:2]})')
    return (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2),
            torch.from_numpy(np.stack(labels).astype(np.int64)), names)


@contextlib.contextmanager
def _output_stage(backbone: nn.Module, stage: Optional[int]) -> Iterator:
    """Make ``backbone`` return stage ``stage`` last (via ``out_indices``,
    the attribute mmpretrain/mmdet/mmseg ResNets read in ``forward``)."""
    if stage is None:
        yield
        return
    if not hasattr(backbone, 'out_indices'):
        raise TypeError(
            f'stage={stage} needs a backbone with an out_indices attribute '
            f'(e.g. ResNet); {type(backbone).__name__} has none. Use '
            'stage=None for its last output.')
    saved = backbone.out_indices
    backbone.out_indices = (stage, )
    try:
        yield
    finally:
        backbone.out_indices = saved


@torch.no_grad()
def extract_dense_features(backbone: nn.Module,
                           images: Tensor,
                           mean: Sequence[float],
                           std: Sequence[float],
                           stage: Optional[int] = None,
                           img_scale: Optional[int] = None,
                           batch_size: int = 32) -> Tensor:
    """Feature maps of a frozen backbone (eval mode, no gradient).

    The backbone's training mode is restored afterwards.

    Args:
        backbone (nn.Module): Returns a tensor or a sequence of maps.
        images (Tensor): uint8 images, shape (N, 3, H, W), in the channel
            order the backbone expects.
        mean (Sequence[float]): Per-channel mean of the normalisation.
        std (Sequence[float]): Per-channel std of the normalisation.
        stage (int, optional): Stage to read (``out_indices`` index, e.g.
            3 for ResNet's layer4). Defaults to None: the last output.
        img_scale (int, optional): Resize images (bilinear) to this side
            first. Defaults to None.
        batch_size (int): Images per forward. Defaults to 32.

    Returns:
        Tensor: Features, shape (N, C, h, w), float32.
    """
    device = next(backbone.parameters()).device
    mean_t = torch.as_tensor(mean, dtype=torch.float32,
                             device=device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32,
                            device=device).view(1, -1, 1, 1)
    was_training = backbone.training
    backbone.eval()
    feats = []
    try:
        with _output_stage(backbone, stage):
            for start in range(0, len(images), batch_size):
                x = images[start:start + batch_size].to(device).float()
                if img_scale is not None:
                    x = F.interpolate(
                        x, size=(img_scale, img_scale), mode='bilinear',
                        align_corners=False)
                out = backbone((x - mean_t) / std_t)
                if isinstance(out, (list, tuple)):
                    out = out[-1]
                feats.append(out.float().cpu())
    finally:
        backbone.train(was_training)
    return torch.cat(feats)
