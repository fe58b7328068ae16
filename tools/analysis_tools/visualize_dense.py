"""Pictures of what a dense model learned, from a checkpoint and one image.

Writes into ``--out-dir``:

* ``pca.png``: the image and the first three principal components of its
  last backbone feature map as RGB (size ``SIZE x 2*SIZE``);
* ``matches.png``: two random crops of the image side by side, with a line
  from every cell of view 1 to the cell of view 2 that DenseCL's matching
  picks (most similar backbone or neck feature, as the model's
  ``match_on`` says; size ``VIEW x 2*VIEW``); for models built on
  ``BaseDenseContrast``;
* ``clusters.png``: for DSC, the image and the class each pixel is assigned
  to by the model's ``assign_clusters`` (size ``SIZE x 2*SIZE``).

Examples::

    python tools/visualize_dense.py CONFIG work_dirs/run/epoch_8.pth \\
        --toyscene-index 3 --out-dir work_dirs/run/vis
    python tools/visualize_dense.py CONFIG CKPT --image photo.jpg --size 448
"""
import argparse
import colorsys
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image, ImageDraw

try:
    import dense_contrast  # noqa: F401
except ImportError:  # a checkout that is not pip-installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dense_contrast.datasets import render_scene  # noqa: E402
from dense_contrast.models.algorithms.base_dense_contrast import \
    BaseDenseContrast  # noqa: E402
from dense_contrast.models.utils import match_by_similarity  # noqa: E402
from dense_contrast.registry import MODELS, TRANSFORMS  # noqa: E402
from dense_contrast.utils.extract import (get_model_state_dict,  # noqa: E402
                                          load_checkpoint_safely)
from dense_contrast.preflight import (  # noqa: E402
    ConfigValidationError, check_checkpoint_matches)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='PNG pictures of dense features, matches and clusters')
    parser.add_argument('config', help='the config the checkpoint was '
                        'trained with')
    parser.add_argument('checkpoint', help='a pretraining checkpoint')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--image', help='an image file')
    source.add_argument(
        '--toyscene-index',
        type=int,
        help='render this toy scenes image (seed 0, --split) instead')
    parser.add_argument('--split', default='val', choices=['train', 'val'])
    parser.add_argument(
        '--size', type=int, default=224, help='image side for pca/clusters')
    parser.add_argument(
        '--view-size', type=int, default=160, help='side of the two views')
    parser.add_argument('--seed', type=int, default=0, help='crop seed')
    parser.add_argument('--out-dir', required=True, help='output folder')
    return parser.parse_args(argv)


def load_model(config: str, checkpoint: str) -> torch.nn.Module:
    """Build the config's model and load the checkpoint (strict, safe).

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


def normalise(model: torch.nn.Module, rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) input, with the model's mean/std."""
    preprocessor = model.data_preprocessor
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    return ((x - preprocessor.mean) / preprocessor.std).unsqueeze(0)


def side_by_side(left: np.ndarray, right: np.ndarray) -> Image.Image:
    return Image.fromarray(np.concatenate([left, right], axis=1))


def pca_rgb(feats: torch.Tensor, size: int) -> np.ndarray:
    """First three principal components of a (C, h, w) map as RGB.

    Returns:
        np.ndarray: (size, size, 3) uint8, each component min-max scaled.
    """
    channels, height, width = feats.shape
    rows = feats.flatten(1).t()  # (h*w, C)
    rows = rows - rows.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(rows, full_matrices=False)
    comps = rows @ v[:3].t()  # (h*w, <=3)
    comps = F.pad(comps, (0, 3 - comps.shape[1]))
    low, high = comps.min(0).values, comps.max(0).values
    comps = (comps - low) / (high - low).clamp_min(1e-12)
    img = comps.t().reshape(1, 3, height, width)
    img = F.interpolate(img, size=(size, size), mode='nearest')[0]
    return (img.permute(1, 2, 0) * 255).round().byte().numpy()


def palette(num: int) -> List[tuple]:
    return [
        tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / num, 0.8, 1.0))
        for i in range(num)
    ]


def random_views(rgb: np.ndarray, view_size: int, seed: int) -> List:
    """Two random resized crops (with flips) of an RGB image."""
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
    """Two views with a line from each view-1 cell to its matched cell."""
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

    def centre(cell: int, grid, offset: int) -> tuple:
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


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        model = load_model(args.config, args.checkpoint)
    except ConfigValidationError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    if args.image is not None:
        import mmcv
        if not osp.isfile(args.image):
            print(f'error: --image {args.image}: no such file',
                  file=sys.stderr)
            return 1
        rgb = mmcv.imread(args.image, channel_order='rgb')
        if rgb is None:
            print(f'error: --image {args.image}: not a readable image',
                  file=sys.stderr)
            return 1
    else:
        rgb = render_scene(0, args.split, args.toyscene_index,
                           img_size=max(args.size, args.view_size)).image
    import mmcv
    image = mmcv.imresize(rgb, (args.size, args.size))
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    with torch.no_grad():
        feats = model.backbone(normalise(model, image))[-1][0]
        side_by_side(image, pca_rgb(feats, args.size)).save(
            osp.join(args.out_dir, 'pca.png'))
        written.append('pca.png')
        if isinstance(model, BaseDenseContrast):
            draw_matches(model, rgb, args.view_size, args.seed).save(
                osp.join(args.out_dir, 'matches.png'))
            written.append('matches.png')
        if hasattr(model, 'assign_clusters'):
            labels = model.assign_clusters(
                normalise(model, image), out_size=(args.size, args.size))[0]
            colors = np.array(palette(int(labels.max()) + 1), dtype=np.uint8)
            side_by_side(image, colors[labels.numpy()]).save(
                osp.join(args.out_dir, 'clusters.png'))
            written.append('clusters.png')
    for name in written:
        print(osp.abspath(osp.join(args.out_dir, name)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
