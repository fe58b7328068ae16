"""Pictures of what a dense model learned, from a checkpoint and one image.

:func:`write_pictures` writes into a folder:

* ``pca.png``: the image and the first three principal components of its
  last backbone feature map as RGB (size ``size x 2*size``);
* ``matches.png``: two random crops of the image side by side, with a line
  from every cell of view 1 to the cell of view 2 that DenseCL's matching
  picks (most similar backbone or neck feature, as the model's
  ``match_on`` says; size ``view_size x 2*view_size``); for models built
  on ``BaseDenseContrast``;
* ``clusters.png``: for DSC, the image and the class each pixel is assigned
  to by the model's ``assign_clusters`` (size ``size x 2*size``).
"""
import colorsys
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image, ImageDraw

from dense_contrast.datasets import render_scene
from dense_contrast.models import BaseDenseContrast, match_by_similarity
from dense_contrast.preflight import check_checkpoint_matches
from dense_contrast.registry import MODELS, TRANSFORMS
from dense_contrast.utils.extract import (get_model_state_dict,
                                          load_checkpoint_safely)


def load_model(config: str, checkpoint: str) -> torch.nn.Module:
    """Build the config's model and load the checkpoint (strict, safe).

    Args:
        config (str): The config the checkpoint was trained with.
        checkpoint (str): A pretraining checkpoint.

    Returns:
        torch.nn.Module: The model, in eval mode.

    Raises:
        ConfigValidationError: If the checkpoint is of another model.
    """
    cfg = Config.fromfile(config)
    check_checkpoint_matches(cfg, checkpoint, 'checkpoint')
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'dense_contrast')):
        model = MODELS.build(cfg.model)
    state = get_model_state_dict(load_checkpoint_safely(checkpoint))
    model.load_state_dict(state, strict=True)
    return model.eval()


def source_image(image: Optional[str] = None,
                 toyscene_index: Optional[int] = None,
                 split: str = 'val',
                 img_size: int = 224) -> np.ndarray:
    """The picture to look at: an image file or a rendered toy scene.

    Args:
        image (str, optional): An image file. Defaults to None.
        toyscene_index (int, optional): Render this toy scenes image (seed
            0) when ``image`` is None. Defaults to None.
        split (str): ``'train'`` or ``'val'`` toy scene. Defaults to
            ``'val'``.
        img_size (int): Side of a rendered toy scene. Defaults to 224.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.

    Raises:
        FileNotFoundError: If ``image`` does not exist.
        ValueError: If ``image`` is not a readable image, or neither
            source is given.
    """
    if image is None:
        if toyscene_index is None:
            raise ValueError('give an image file or a toy scene index')
        return render_scene(0, split, toyscene_index, img_size=img_size).image
    import mmcv
    if not osp.isfile(image):
        raise FileNotFoundError(f'{image}: no such file')
    rgb = mmcv.imread(image, channel_order='rgb')
    if rgb is None:
        raise ValueError(f'{image}: not a readable image')
    return rgb


def normalise(model: torch.nn.Module, rgb: np.ndarray) -> torch.Tensor:
    """An RGB image as model input, with the model's mean and std.

    Args:
        model (torch.nn.Module): A model with a ``data_preprocessor``.
        rgb (np.ndarray): (H, W, 3) uint8 RGB.

    Returns:
        torch.Tensor: (1, 3, H, W) float.
    """
    preprocessor = model.data_preprocessor
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    return ((x - preprocessor.mean) / preprocessor.std).unsqueeze(0)


def side_by_side(left: np.ndarray, right: np.ndarray) -> Image.Image:
    """Two (H, W, 3) uint8 images next to each other.

    Args:
        left (np.ndarray): The left image.
        right (np.ndarray): The right image, of the same height.

    Returns:
        Image.Image: (H, 2W) RGB picture.
    """
    return Image.fromarray(np.concatenate([left, right], axis=1))


def pca_rgb(feats: torch.Tensor, size: int) -> np.ndarray:
    """First three principal components of a (C, H, W) map as RGB.

    Args:
        feats (torch.Tensor): Features of shape (C, H, W).
        size (int): Side of the output (nearest upsampling).

    Returns:
        np.ndarray: (size, size, 3) uint8, each component min-max scaled.
    """
    channels, height, width = feats.shape
    rows = feats.flatten(1).t()  # (S, C)
    rows = rows - rows.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(rows, full_matrices=False)
    comps = rows @ v[:3].t()  # (S, <=3)
    comps = F.pad(comps, (0, 3 - comps.shape[1]))
    low, high = comps.min(0).values, comps.max(0).values
    comps = (comps - low) / (high - low).clamp_min(1e-12)
    img = comps.t().reshape(1, 3, height, width)
    img = F.interpolate(img, size=(size, size), mode='nearest')[0]
    return (img.permute(1, 2, 0) * 255).round().byte().numpy()


def palette(num: int) -> List[tuple]:
    """Distinct colours, evenly spaced hues.

    Args:
        num (int): How many.

    Returns:
        list[tuple]: (r, g, b) in 0..255.
    """
    return [
        tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / num, 0.8, 1.0))
        for i in range(num)
    ]


def random_views(rgb: np.ndarray, view_size: int,
                 seed: int) -> List[np.ndarray]:
    """Two random resized crops (with flips) of an RGB image.

    Args:
        rgb (np.ndarray): (H, W, 3) uint8 RGB.
        view_size (int): Side of each view.
        seed (int): Seed of the crops.

    Returns:
        list[np.ndarray]: Two (view_size, view_size, 3) views.
    """
    pipeline = [
        TRANSFORMS.build(
            dict(
                type='RandomResizedCrop',
                scale=view_size,
                crop_ratio_range=(0.3, 1.),
                backend='pillow')),
        TRANSFORMS.build(dict(type='RandomFlip', prob=0.5)),
    ]
    np.random.seed(seed)
    views = []
    for _ in range(2):
        results = dict(img=rgb.copy(), img_shape=rgb.shape[:2])
        for transform in pipeline:
            results = transform(results)
        views.append(results['img'])
    return views


@torch.no_grad()
def draw_matches(model: BaseDenseContrast, rgb: np.ndarray, view_size: int,
                 seed: int) -> Image.Image:
    """Two views with a line from each view-1 cell to its matched cell.

    Args:
        model (BaseDenseContrast): The model.
        rgb (np.ndarray): (H, W, 3) uint8 RGB.
        view_size (int): Side of each view.
        seed (int): Seed of the crops.

    Returns:
        Image.Image: (view_size, 2 * view_size) RGB picture.
    """
    view1, view2 = random_views(rgb, view_size, seed)
    query = model.encode_query(normalise(model, view1))
    # The key view goes through the momentum encoder, as in training (but
    # without the momentum update that encode_key performs).
    backbone_k, neck_k = model.encoder_k.module
    key = model.embed(backbone_k, neck_k, normalise(model, view2))
    use_neck = model.match_on == 'neck'
    idx = match_by_similarity(
        query.dense_proj if use_neck else query.backbone_feats,
        key.dense_proj if use_neck else key.backbone_feats)[0]
    grid_q = model.backbone(normalise(model, view1))[-1].shape[-2:]
    grid_k = grid_q  # both views have the same size
    canvas = side_by_side(view1, view2)
    draw = ImageDraw.Draw(canvas)
    colors = palette(idx.numel())

    def centre(cell: int, grid: Sequence[int], offset: int) -> tuple:
        row, col = divmod(cell, grid[1])
        return (offset + (col + 0.5) * view_size / grid[1],
                (row + 0.5) * view_size / grid[0])

    radius = max(view_size // 80, 2)
    for cell, matched in enumerate(idx.tolist()):
        start, end = centre(cell, grid_q, 0), centre(matched, grid_k,
                                                     view_size)
        draw.line([start, end], fill=colors[cell], width=1)
        for x, y in (start, end):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius],
                         outline=colors[cell])
    return canvas


@torch.no_grad()
def write_pictures(model: torch.nn.Module,
                   rgb: np.ndarray,
                   out_dir: str,
                   size: int = 224,
                   view_size: int = 160,
                   seed: int = 0) -> List[str]:
    """Write the pictures the model supports (see the module's docstring).

    Args:
        model (torch.nn.Module): A model of :func:`load_model`.
        rgb (np.ndarray): (H, W, 3) uint8 RGB (:func:`source_image`).
        out_dir (str): The output folder (created).
        size (int): Image side for ``pca.png`` / ``clusters.png``. Defaults
            to 224.
        view_size (int): Side of the two views of ``matches.png``. Defaults
            to 160.
        seed (int): Seed of the crops. Defaults to 0.

    Returns:
        list[str]: Absolute paths of the written files.
    """
    import mmcv
    image = mmcv.imresize(rgb, (size, size))
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def save(picture: Image.Image, name: str) -> None:
        path = osp.abspath(osp.join(out_dir, name))
        picture.save(path)
        written.append(path)

    feats = model.backbone(normalise(model, image))[-1][0]
    save(side_by_side(image, pca_rgb(feats, size)), 'pca.png')
    if isinstance(model, BaseDenseContrast):
        save(draw_matches(model, rgb, view_size, seed), 'matches.png')
    if hasattr(model, 'assign_clusters'):
        labels = model.assign_clusters(
            normalise(model, image), out_size=(size, size))[0]
        colors = np.array(palette(int(labels.max()) + 1), dtype=np.uint8)
        save(side_by_side(image, colors[labels.numpy()]), 'clusters.png')
    return written
