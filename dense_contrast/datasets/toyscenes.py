"""Toy scenes: a seeded generator of small multi-object images.

The data set exists so that pretraining demos and tests run on a CPU in
minutes with no download. Each image shows 2-6 objects from
:data:`TOYSCENES_CLASSES` on a muted, textured background. The categories
differ in *both* shape and texture (and colour palette), so a dense
contrastive model has local cues (texture) as well as global ones (shape) to
learn from, and the labels are good enough for downstream detection and
semantic segmentation checks.

Layout written under a root (default ``data/toyscenes``)::

    root/
    ├── train/images/000000.png ...    RGB images, flat folder (pretraining)
    ├── train/semantic/000000.png ...  uint8 label maps, 0 = background,
    │                                  1..C = category (mmseg style,
    │                                  ``reduce_zero_label=False``)
    ├── val/images/ ...
    ├── val/semantic/ ...
    ├── annotations/instances_train.json  COCO instances (RLE masks)
    ├── annotations/instances_val.json
    └── meta.json                         written last: "generation finished"

Consistency rule between image, semantic map and COCO json: an instance
whose *visible* area (after occlusion by later instances and clipping at
the border) would be smaller than :data:`MIN_VISIBLE_AREA` pixels is removed
from the scene before anything is painted. Every object visible in the
image is therefore annotated, and painting the (non-overlapping) visible
instance masks with their category ids reproduces the semantic map exactly.

Determinism: image ``i`` of a split depends only on ``(seed, split, i)``
(``numpy.random.default_rng([seed, split_id, i])``), so results do not
depend on how many worker processes draw them.
"""
import colorsys
import contextlib
import fcntl
import json
import math
import multiprocessing as mp
import os
import os.path as osp
import shutil
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
from mmpretrain.datasets import CustomDataset
from PIL import Image

from dense_contrast.registry import DATASETS

__all__ = [
    'TOYSCENES_CLASSES', 'TOYSCENES_PALETTE', 'ToyScenesMismatchError',
    'Scene', 'render_scene', 'generate_toyscenes', 'ensure_toyscenes',
    'ToyScenesDataset'
]

#: Bump whenever the drawn content changes, so stale folders are detected.
GENERATOR_VERSION = 1

#: Object categories; category id ``k`` (1..C) is ``TOYSCENES_CLASSES[k-1]``.
TOYSCENES_CLASSES = ('disc', 'square', 'triangle', 'ring', 'cross', 'star')

#: Split name -> the id mixed into the random seed.
SPLIT_IDS = {'train': 0, 'val': 1}

#: Instances with fewer visible pixels are removed from the scene (see the
#: module docstring): slivers of 1-7 px are noise for detection training.
MIN_VISIBLE_AREA = 8

#: Range of object radii as a fraction of the image size: from tiny up to
#: objects about half the image across. Sampled log-uniformly so that small
#: objects are common, as in natural images.
RADIUS_RANGE = (0.04, 0.25)

#: Smallest radius in pixels, so that shapes stay recognisable at 64 px.
MIN_RADIUS_PX = 3.0

#: Number of objects per image, inclusive.
NUM_OBJECTS_RANGE = (2, 6)

META_FILE = 'meta.json'
LOCK_FILE = '.toyscenes.lock'

# The parameters that define the content; meta.json must match them.
_CONTENT_KEYS = ('version', 'seed', 'img_size', 'num_train', 'num_val')

# ---------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------

# Hue centre (HSV, in [0, 1)) of each category's palette, in class order.
_CATEGORY_HUES = (0.02, 0.60, 0.33, 0.80, 0.14, 0.50)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """HSV in [0, 1] to an RGB float array of shape (3, )."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float64)


def _palette() -> List[List[int]]:
    """Visualisation palette for background + categories, (C + 1) x RGB."""
    colours = [[0, 0, 0]]
    for hue in _CATEGORY_HUES:
        colours.append([int(round(255 * c)) for c in _hsv(hue, 0.8, 0.9)])
    return colours


#: RGB colours for label 0 (background) and labels 1..C, for visualisation.
TOYSCENES_PALETTE = tuple(tuple(c) for c in _palette())


def _object_colours(rng: np.random.Generator,
                    hue: float) -> Tuple[np.ndarray, np.ndarray]:
    """Two colours of one object instance from its category palette.

    The first colour is the category hue with per-instance jitter; the second
    is the same hue much darker or lighter, so that the texture has contrast
    but the object keeps its palette.

    Returns:
        tuple[np.ndarray, np.ndarray]: Two RGB colours in [0, 1], shape (3, ).
    """
    h = hue + rng.uniform(-0.035, 0.035)
    s = rng.uniform(0.55, 0.95)
    v = rng.uniform(0.6, 0.95)
    main = _hsv(h, s, v)
    if rng.random() < 0.5:
        other = _hsv(h + rng.uniform(-0.02, 0.02), s,
                     v * rng.uniform(0.3, 0.5))
    else:
        other = _hsv(h + rng.uniform(-0.02, 0.02), s * rng.uniform(0.2, 0.45),
                     min(1.0, v + 0.1))
    return main, other


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend two colours per pixel.

    Args:
        a (np.ndarray): RGB colour, shape (3, ).
        b (np.ndarray): RGB colour, shape (3, ).
        t (np.ndarray): Blend weights in [0, 1] (bool allowed), shape (h, w).

    Returns:
        np.ndarray: Colours ``a * (1 - t) + b * t``, shape (h, w, 3).
    """
    t = np.asarray(t, dtype=np.float64)[..., None]
    return a * (1.0 - t) + b * t


def _rotate(dx: np.ndarray, dy: np.ndarray,
            angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """Rotate offsets by ``-angle`` (i.e. express them in a rotated frame)."""
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c


# ---------------------------------------------------------------------------
# Shapes: implicit functions of normalised, rotated coordinates (u, v).
# Every shape fits in the disc u^2 + v^2 <= 1.1^2, which bounds the window
# the shape is evaluated in.
# ---------------------------------------------------------------------------
_SHAPE_EXTENT = 1.1


def _shape_disc(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    return u * u + v * v <= 1.0


def _shape_square(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    # Half side 0.75: the corners (r = 1.06) stay inside the window.
    return np.maximum(np.abs(u), np.abs(v)) <= 0.75


def _shape_triangle(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    # Equilateral triangle inscribed in the unit circle: intersection of the
    # three half-planes whose outward normals point at -90, 30 and 150 deg,
    # each at distance 0.5 from the centre.
    inside = np.ones(u.shape, dtype=bool)
    for k in range(3):
        theta = -math.pi / 2 + k * 2 * math.pi / 3
        inside &= u * math.cos(theta) + v * math.sin(theta) <= 0.5
    return inside


def _shape_ring(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= p['ring_inner']**2)


def _shape_cross(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    w = p['arm_width']
    return ((au <= w) & (av <= 1.0)) | ((av <= w) & (au <= 1.0))


def _shape_star(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    # Five-pointed star in polar form: the boundary radius goes linearly from
    # 1 at a tip to ``star_inner`` halfway between two tips.
    r = np.sqrt(u * u + v * v)
    t = (np.arctan2(v, u) * 5 / (2 * math.pi)) % 1.0
    tip = np.abs(t - 0.5) * 2.0  # 1 at a tip, 0 between tips
    return r <= p['star_inner'] + (1.0 - p['star_inner']) * tip


# ---------------------------------------------------------------------------
# Textures: colour of an object as a function of pixel offsets (dx, dy) from
# its centre, so the pattern moves with the object. Periods are in pixels and
# do not scale with the object: texture is a *local* cue.
# Signature: (dx, dy) of shape (h, w), the object radius in pixels and the
# texture parameters -> RGB colours in [0, 1] of shape (h, w, 3).
# ---------------------------------------------------------------------------


def _tex_stripes(dx: np.ndarray, dy: np.ndarray, radius: float,
                 p: dict) -> np.ndarray:
    t, _ = _rotate(dx, dy, p['angle'])
    return _mix(p['a'], p['b'], (t / p['period'] + p['phase']) % 1.0 < 0.5)


def _tex_checker(dx: np.ndarray, dy: np.ndarray, radius: float,
                 p: dict) -> np.ndarray:
    x, y = _rotate(dx, dy, p['angle'])
    col = np.floor(x / p['period'] + p['phase'])
    row = np.floor(y / p['period'] + p['phase'])
    return _mix(p['a'], p['b'], (col + row) % 2 == 0)


def _tex_dots(dx: np.ndarray, dy: np.ndarray, radius: float,
              p: dict) -> np.ndarray:
    x, y = _rotate(dx, dy, p['angle'])
    fx = (x / p['period'] + p['phase']) % 1.0 - 0.5
    fy = (y / p['period'] + p['phase']) % 1.0 - 0.5
    return _mix(p['a'], p['b'], fx * fx + fy * fy <= 0.3**2)


def _tex_gradient(dx: np.ndarray, dy: np.ndarray, radius: float,
                  p: dict) -> np.ndarray:
    t, _ = _rotate(dx, dy, p['angle'])
    return _mix(p['a'], p['b'], np.clip(0.5 + t / (2.0 * radius), 0.0, 1.0))


def _tex_speckle(dx: np.ndarray, dy: np.ndarray, radius: float,
                 p: dict) -> np.ndarray:
    # Per-pixel noise from a seed drawn at sampling time: the scene's main
    # random stream does not depend on the window size.
    noise = np.random.default_rng(p['noise_seed']).random(dx.shape)
    return _mix(p['a'], p['b'], noise)


def _tex_waves(dx: np.ndarray, dy: np.ndarray, radius: float,
               p: dict) -> np.ndarray:
    x, y = _rotate(dx, dy, p['angle'])
    k = 2 * math.pi / p['period']
    return _mix(p['a'], p['b'], 0.5 + 0.5 * np.sin(k * x) * np.sin(k * y))


class _Category(NamedTuple):
    """How one category is drawn."""
    name: str
    hue: float
    shape: Callable[[np.ndarray, np.ndarray, dict], np.ndarray]
    texture: Callable[..., np.ndarray]
    period_range: Tuple[float, float]


_CATEGORIES = (
    _Category('disc', _CATEGORY_HUES[0], _shape_disc, _tex_stripes, (4, 9)),
    _Category('square', _CATEGORY_HUES[1], _shape_square, _tex_checker,
              (3, 7)),
    _Category('triangle', _CATEGORY_HUES[2], _shape_triangle, _tex_dots,
              (4, 8)),
    _Category('ring', _CATEGORY_HUES[3], _shape_ring, _tex_gradient, (1, 1)),
    _Category('cross', _CATEGORY_HUES[4], _shape_cross, _tex_speckle, (1, 1)),
    _Category('star', _CATEGORY_HUES[5], _shape_star, _tex_waves, (5, 10)),
)
assert tuple(c.name for c in _CATEGORIES) == TOYSCENES_CLASSES


class _Instance(NamedTuple):
    """All random choices of one object, drawn before anything is painted."""
    category: int  # 1..C
    cx: float
    cy: float
    radius: float
    angle: float
    shape_params: dict
    texture_params: dict


def _sample_instance(rng: np.random.Generator, img_size: int) -> _Instance:
    """Draw the layout and appearance of one object."""
    cat_idx = int(rng.integers(len(_CATEGORIES)))
    cat = _CATEGORIES[cat_idx]
    lo, hi = RADIUS_RANGE
    radius = max(MIN_RADIUS_PX,
                 img_size * math.exp(rng.uniform(math.log(lo), math.log(hi))))
    # Centres stay away from the border so that most of every object is
    # inside the image.
    cx, cy = rng.uniform(0.1 * img_size, 0.9 * img_size, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    # Every category draws every shape parameter, which keeps the random
    # stream simple; each shape reads only its own.
    shape_params = dict(
        ring_inner=rng.uniform(0.45, 0.65),
        star_inner=rng.uniform(0.4, 0.5),
        arm_width=rng.uniform(0.25, 0.35))
    a, b = _object_colours(rng, cat.hue)
    texture_params = dict(
        a=a,
        b=b,
        angle=rng.uniform(0, 2 * math.pi),
        period=rng.uniform(*cat.period_range),
        phase=rng.uniform(0, 1),
        noise_seed=int(rng.integers(2**63)))
    return _Instance(cat_idx + 1, float(cx), float(cy), float(radius),
                     float(angle), shape_params, texture_params)


def _window(inst: _Instance, img_size: int) -> Tuple[int, int, int, int]:
    """Pixel box ``(y0, y1, x0, x1)`` that contains the shape, clipped."""
    half = _SHAPE_EXTENT * inst.radius + 1
    x0 = max(0, int(math.floor(inst.cx - half)))
    x1 = min(img_size, int(math.ceil(inst.cx + half)))
    y0 = max(0, int(math.floor(inst.cy - half)))
    y1 = min(img_size, int(math.ceil(inst.cy + half)))
    return y0, y1, x0, x1


def _offsets(inst: _Instance,
             box: Tuple[int, int, int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Offsets of the pixel centres in ``box`` from the object centre.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``dx`` and ``dy``, shape (h, w).
    """
    y0, y1, x0, x1 = box
    dy, dx = np.meshgrid(
        np.arange(y0, y1) + 0.5 - inst.cy,
        np.arange(x0, x1) + 0.5 - inst.cx,
        indexing='ij')
    return dx, dy


def _shape_mask(inst: _Instance, box: Tuple[int, int, int, int]) -> np.ndarray:
    """Boolean mask of the whole (unoccluded) shape inside ``box``."""
    dx, dy = _offsets(inst, box)
    u, v = _rotate(dx / inst.radius, dy / inst.radius, inst.angle)
    return _CATEGORIES[inst.category - 1].shape(u, v, inst.shape_params)


def _instance_map(instances: List[_Instance], img_size: int) -> np.ndarray:
    """Paint instance indices in order (later ones occlude earlier ones).

    Returns:
        np.ndarray: ``k + 1`` where instance ``k`` is visible, 0 elsewhere,
        shape (img_size, img_size), dtype int16.
    """
    inst_map = np.zeros((img_size, img_size), dtype=np.int16)
    for k, inst in enumerate(instances):
        box = _window(inst, img_size)
        y0, y1, x0, x1 = box
        inst_map[y0:y1, x0:x1][_shape_mask(inst, box)] = k + 1
    return inst_map


# ---------------------------------------------------------------------------
# Backgrounds: muted, low-contrast, and from families the objects do not
# use (smooth clouds, radial blends, wood-like grain).
# ---------------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, size: int,
                 cells: int) -> np.ndarray:
    """Smooth noise: a random ``(cells + 1)^2`` lattice, interpolated.

    Returns:
        np.ndarray: Values in [0, 1], shape (size, size).
    """
    lattice = rng.random((cells + 1, cells + 1))
    pos = (np.arange(size) + 0.5) / size * cells
    idx = np.floor(pos).astype(np.int64)
    frac = pos - idx
    frac = frac * frac * (3 - 2 * frac)  # smoothstep hides the lattice
    rows = (lattice[idx] * (1 - frac)[:, None] +
            lattice[idx + 1] * frac[:, None])  # (size, cells + 1)
    return rows[:, idx] * (1 - frac) + rows[:, idx + 1] * frac


def _background(rng: np.random.Generator, img_size: int) -> np.ndarray:
    """Draw a background.

    Returns:
        np.ndarray: RGB floats in [0, 1] (up to the grain noise), shape
        (img_size, img_size, 3), dtype float32.
    """
    h = rng.random()
    s = rng.uniform(0.05, 0.25)
    v = rng.uniform(0.3, 0.7)
    a = _hsv(h, s, v)
    b = _hsv(h + rng.uniform(-0.08, 0.08), s,
             v + rng.choice([-1, 1]) * rng.uniform(0.08, 0.15))
    family = int(rng.integers(3))
    # float32 throughout: the background is the largest array of a scene.
    coords = np.arange(img_size, dtype=np.float32) + 0.5
    ys, xs = np.meshgrid(coords, coords, indexing='ij')
    if family == 0:  # clouds: two octaves of smooth noise
        t = (0.7 * _value_noise(rng, img_size, int(rng.integers(2, 5))) +
             0.3 * _value_noise(rng, img_size, int(rng.integers(6, 10))))
    elif family == 1:  # radial blend around a random point
        cx, cy = rng.uniform(0, img_size, size=2)
        t = np.clip(np.hypot(xs - cx, ys - cy) / img_size, 0, 1)
    else:  # grain: wavy, broad, low-contrast bands
        angle = rng.uniform(0, 2 * math.pi)
        period = rng.uniform(0.15, 0.35) * img_size
        warp = _value_noise(rng, img_size, 3) * rng.uniform(0.2, 0.6) * period
        x, _ = _rotate(xs, ys, angle)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (x + warp) / period)
    t = t.astype(np.float32)[..., None]
    img = a.astype(np.float32) * (1 - t) + b.astype(np.float32) * t
    # Faint sensor-like grain, much weaker than the 'cross' speckle texture.
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.015)
    return img


# ---------------------------------------------------------------------------
# One scene
# ---------------------------------------------------------------------------


class Scene(NamedTuple):
    """One rendered image with its labels.

    Attributes:
        image (np.ndarray): RGB, shape (H, W, 3), dtype uint8.
        semantic (np.ndarray): Category per pixel (0 = background),
            shape (H, W), dtype uint8.
        instance_map (np.ndarray): ``k + 1`` on the visible pixels of
            ``categories[k]``, 0 on background, shape (H, W), dtype int16.
        categories (list[int]): Category id (1..C) of each kept instance, in
            drawing order.
    """
    image: np.ndarray
    semantic: np.ndarray
    instance_map: np.ndarray
    categories: List[int]


def render_scene(seed: int,
                 split: str,
                 index: int,
                 img_size: int = 128) -> Scene:
    """Render image ``index`` of ``split`` for ``seed``.

    The result depends only on the arguments (not on any global state).

    Args:
        seed (int): Seed of the whole data set.
        split (str): ``'train'`` or ``'val'``.
        index (int): Index of the image in the split.
        img_size (int): Side of the square image in pixels. Defaults to 128.

    Returns:
        Scene: Image, semantic map, visible-instance map and categories.
    """
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
    image = _background(rng, img_size)
    # Redraw the layout in the (rare) case that no object stays visible
    # enough; the loop consumes the same random stream, so it is seeded too.
    while True:
        num = int(rng.integers(NUM_OBJECTS_RANGE[0], NUM_OBJECTS_RANGE[1] + 1))
        instances = [_sample_instance(rng, img_size) for _ in range(num)]
        inst_map = _instance_map(instances, img_size)
        areas = np.bincount(inst_map.ravel(), minlength=num + 1)[1:]
        # Removing an instance only uncovers pixels of earlier instances, so a
        # single filtering pass leaves every remaining one above threshold.
        instances = [
            inst for inst, area in zip(instances, areas)
            if area >= MIN_VISIBLE_AREA
        ]
        if instances:
            break
    inst_map = _instance_map(instances, img_size)

    for k, inst in enumerate(instances):
        box = _window(inst, img_size)
        y0, y1, x0, x1 = box
        visible = inst_map[y0:y1, x0:x1] == k + 1
        if not visible.any():
            continue
        dx, dy = _offsets(inst, box)
        colours = _CATEGORIES[inst.category - 1].texture(
            dx, dy, inst.radius, inst.texture_params)
        image[y0:y1, x0:x1][visible] = colours[visible]

    categories = [inst.category for inst in instances]
    lut = np.array([0] + categories, dtype=np.uint8)
    semantic = lut[inst_map]
    image = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    return Scene(image, semantic, inst_map, categories)


def _coco_annotations(scene: Scene) -> List[dict]:
    """COCO annotation dicts (without ids) of the visible instances."""
    from pycocotools import mask as mask_utils

    anns = []
    for k, category in enumerate(scene.categories):
        mask = scene.instance_map == k + 1
        ys, xs = np.nonzero(mask)
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        # json cannot hold bytes; pycocotools accepts str counts back.
        rle['counts'] = rle['counts'].decode('ascii')
        x0, y0 = int(xs.min()), int(ys.min())
        anns.append(
            dict(
                category_id=int(category),
                bbox=[x0, y0,
                      int(xs.max()) - x0 + 1,
                      int(ys.max()) - y0 + 1],
                area=int(mask.sum()),
                iscrowd=0,
                segmentation=rle))
    return anns


def _file_name(index: int) -> str:
    return f'{index:06d}.png'


def _render_and_save(task: Tuple[str, str, int, int, int]) -> List[dict]:
    """Worker: render one scene, write its PNGs, return its annotations."""
    root, split, index, seed, img_size = task
    scene = render_scene(seed, split, index, img_size)
    name = _file_name(index)
    # compress_level=1: about 30% faster to write than the default level 6
    # for about 15% larger files (the grain noise barely compresses anyway).
    Image.fromarray(
        scene.image, mode='RGB').save(
            osp.join(root, split, 'images', name),
            format='PNG',
            compress_level=1)
    Image.fromarray(
        scene.semantic, mode='L').save(
            osp.join(root, split, 'semantic', name),
            format='PNG',
            compress_level=1)
    return _coco_annotations(scene)


# ---------------------------------------------------------------------------
# Writing a data set
# ---------------------------------------------------------------------------


def _write_json_atomic(path: str, obj: dict) -> None:
    """Write json to a temporary file and rename it: readers never see a
    partial file."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


def _map_ordered(func: Callable, tasks: list, num_workers: int,
                 progress_update: Optional[Callable[[], None]]) -> list:
    """``[func(t) for t in tasks]``, optionally in a process pool."""
    # A daemonic process (e.g. a DataLoader worker) may not have children.
    if num_workers <= 1 or mp.current_process().daemon or len(tasks) < 2:
        results = []
        for task in tasks:
            results.append(func(task))
            if progress_update:
                progress_update()
        return results
    # fork: the children inherit the imported modules, while spawn would
    # re-import the whole OpenMMLab stack in every worker (seconds each).
    method = 'fork' if 'fork' in mp.get_all_start_methods() else None
    chunksize = max(1, len(tasks) // (num_workers * 8))
    results = []
    with mp.get_context(method).Pool(num_workers) as pool:
        for result in pool.imap(func, tasks, chunksize=chunksize):
            results.append(result)
            if progress_update:
                progress_update()
    return results


def _coco_dict(split: str, num_images: int, img_size: int,
               per_image: List[List[dict]]) -> dict:
    """Assemble a COCO instances dict.

    Image ids equal the image index (the file stem); annotation ids start at
    1 because COCOeval treats id 0 as "unmatched".
    """
    images, annotations = [], []
    ann_id = 1
    for index in range(num_images):
        images.append(
            dict(
                id=index,
                file_name=_file_name(index),
                width=img_size,
                height=img_size))
        for ann in per_image[index]:
            annotations.append(dict(id=ann_id, image_id=index, **ann))
            ann_id += 1
    categories = [
        dict(id=k + 1, name=name, supercategory='shape')
        for k, name in enumerate(TOYSCENES_CLASSES)
    ]
    return dict(
        info=dict(
            description=f'toy scenes, {split} split',
            version=str(GENERATOR_VERSION)),
        images=images,
        annotations=annotations,
        categories=categories)


def _generate_unlocked(root: str, num_train: int, num_val: int, img_size: int,
                       seed: int, num_workers: int, progress: bool) -> dict:
    """Generate the data set; the caller holds the lock."""
    meta_path = osp.join(root, META_FILE)
    # Remove the "finished" marker first: if we crash, nobody trusts the rest.
    if osp.exists(meta_path):
        os.remove(meta_path)
    # Start from empty folders, or images from an earlier, larger generation
    # would be picked up by the folder scan of the pretraining dataset.
    for sub in ('train', 'val', 'annotations'):
        shutil.rmtree(osp.join(root, sub), ignore_errors=True)
    os.makedirs(osp.join(root, 'annotations'))
    for split in SPLIT_IDS:
        for sub in ('images', 'semantic'):
            os.makedirs(osp.join(root, split, sub))

    counts = {'train': num_train, 'val': num_val}
    tasks = [(root, split, i, seed, img_size) for split in SPLIT_IDS
             for i in range(counts[split])]
    update = None
    if progress and tasks:
        from mmengine.utils import ProgressBar
        update = ProgressBar(len(tasks)).update
    results = _map_ordered(_render_and_save, tasks, num_workers, update)
    if update:
        print()  # ProgressBar leaves the cursor at the end of its line

    stats = {}
    start = 0
    for split in SPLIT_IDS:
        per_image = results[start:start + counts[split]]
        start += counts[split]
        coco = _coco_dict(split, counts[split], img_size, per_image)
        _write_json_atomic(
            osp.join(root, 'annotations', f'instances_{split}.json'), coco)
        per_class = np.bincount(
            [a['category_id'] for a in coco['annotations']],
            minlength=len(TOYSCENES_CLASSES) + 1)[1:]
        stats[split] = dict(
            images=counts[split],
            instances=len(coco['annotations']),
            instances_per_class=dict(
                zip(TOYSCENES_CLASSES, (int(n) for n in per_class))))

    meta = dict(
        name='toyscenes',
        version=GENERATOR_VERSION,
        seed=seed,
        img_size=img_size,
        num_train=num_train,
        num_val=num_val,
        min_visible_area=MIN_VISIBLE_AREA,
        classes=list(TOYSCENES_CLASSES),
        # Semantic maps use label 0 for background (reduce_zero_label=False),
        # so the segmentation classes and the palette include it.
        seg_classes=['background'] + list(TOYSCENES_CLASSES),
        palette=[list(c) for c in TOYSCENES_PALETTE],
        counts=stats,
        layout=dict(
            images='{split}/images/{index:06d}.png',
            semantic='{split}/semantic/{index:06d}.png',
            annotations='annotations/instances_{split}.json'))
    _write_json_atomic(meta_path, meta)  # last: marks the folder complete
    return meta


@contextlib.contextmanager
def _locked(root: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``root/.toyscenes.lock``.

    Only one process (e.g. one torchrun rank) generates; the others block
    here and then find the finished data. The lock file is left in place:
    deleting it would let a waiting process lock a file that is gone.
    """
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, LOCK_FILE), 'a') as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _check_args(num_train: int, num_val: int, img_size: int,
                seed: int) -> None:
    if seed < 0:
        # numpy's SeedSequence accepts non-negative integers only.
        raise ValueError(f'seed must be >= 0, got {seed}')
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0, got '
                         f'{num_train} and {num_val}')
    if img_size < 16:
        raise ValueError(f'img_size must be at least 16, got {img_size}')


def generate_toyscenes(root: str,
                       num_train: int = 2000,
                       num_val: int = 400,
                       img_size: int = 128,
                       seed: int = 0,
                       num_workers: int = 2,
                       progress: bool = True) -> dict:
    """Generate (or regenerate) the toy scenes data set under ``root``.

    Existing ``train/``, ``val/`` and ``annotations/`` folders under ``root``
    are replaced. ``meta.json`` is written last; its absence means "not
    (completely) generated".

    Args:
        root (str): Output folder.
        num_train (int): Number of training images. Defaults to 2000.
        num_val (int): Number of validation images. Defaults to 400.
        img_size (int): Side of the square images in pixels.
            Defaults to 128.
        seed (int): Seed; image ``i`` depends only on (seed, split, i).
            Defaults to 0.
        num_workers (int): Worker processes; the output does not depend on
            it. Defaults to 2.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The content of ``meta.json``.
    """
    _check_args(num_train, num_val, img_size, seed)
    with _locked(root):
        return _generate_unlocked(root, num_train, num_val, img_size, seed,
                                  num_workers, progress)


class ToyScenesMismatchError(ValueError):
    """The toy scenes under a root were generated with other parameters."""


def _read_meta(root: str) -> Optional[dict]:
    path = osp.join(root, META_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _check_meta(root: str, meta: dict, wanted: dict) -> None:
    diffs = [
        f'{key}={meta.get(key)!r} (requested {wanted[key]!r})'
        for key in _CONTENT_KEYS if meta.get(key) != wanted[key]
    ]
    if diffs:
        raise ToyScenesMismatchError(
            f'The toy scenes in {root!r} were generated with different '
            f'parameters: {", ".join(diffs)}. Delete the folder to '
            'regenerate it, or choose another root.')


def ensure_toyscenes(root: str,
                     num_train: int = 2000,
                     num_val: int = 400,
                     img_size: int = 128,
                     seed: int = 0,
                     num_workers: int = 2,
                     progress: bool = True) -> dict:
    """Generate the toy scenes under ``root`` unless they are already there.

    Safe to call from several processes at once (torchrun ranks): a file
    lock lets one of them generate while the others wait.

    Args:
        root (str): Data folder.
        num_train (int): Number of training images. Defaults to 2000.
        num_val (int): Number of validation images. Defaults to 400.
        img_size (int): Side of the square images in pixels.
            Defaults to 128.
        seed (int): Seed. Defaults to 0.
        num_workers (int): Worker processes when generating. Defaults to 2.
        progress (bool): Show a progress bar when generating.
            Defaults to True.

    Returns:
        dict: The content of ``meta.json``.

    Raises:
        ToyScenesMismatchError: (a ``ValueError``) if ``root`` holds toy
            scenes generated with other parameters or another generator
            version.
    """
    _check_args(num_train, num_val, img_size, seed)
    wanted = dict(
        version=GENERATOR_VERSION,
        seed=seed,
        img_size=img_size,
        num_train=num_train,
        num_val=num_val)
    meta = _read_meta(root)
    if meta is None:
        with _locked(root):
            # Another process may have finished while we waited.
            meta = _read_meta(root)
            if meta is None:
                return _generate_unlocked(root, num_train, num_val, img_size,
                                          seed, num_workers, progress)
    _check_meta(root, meta, wanted)
    return meta


@DATASETS.register_module()
class ToyScenesDataset(CustomDataset):
    """Unlabelled toy scenes images for self-supervised pretraining.

    A flat folder ``<data_root>/<split>/images`` read by mmpretrain's
    :class:`CustomDataset` with ``with_label=False``. The images are
    generated on first use (see :func:`ensure_toyscenes`), so a config such
    as ``dict(type='ToyScenesDataset', data_root='data/toyscenes',
    split='train', pipeline=[...])`` works on a fresh clone.

    Args:
        data_root (str): Folder of the generated data.
            Defaults to 'data/toyscenes'.
        split (str): ``'train'`` or ``'val'``. Defaults to 'train'.
        num_train (int): Number of training images to generate.
            Defaults to 2000.
        num_val (int): Number of validation images to generate.
            Defaults to 400.
        img_size (int): Side of the square images in pixels.
            Defaults to 128.
        seed (int): Seed of the generator. Defaults to 0.
        num_workers (int): Processes used when generating. Defaults to 2.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.CustomDataset`
            (``pipeline``, ``lazy_init``, ``test_mode`` ...), except
            ``data_prefix`` and ``with_label`` which this class sets.
    """

    def __init__(self,
                 data_root: str = 'data/toyscenes',
                 split: str = 'train',
                 num_train: int = 2000,
                 num_val: int = 400,
                 img_size: int = 128,
                 seed: int = 0,
                 num_workers: int = 2,
                 **kwargs) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(
                f'split must be one of {tuple(SPLIT_IDS)}, got {split!r}')
        for key in ('data_prefix', 'with_label'):
            if key in kwargs:
                raise TypeError(f'ToyScenesDataset sets {key!r} itself')
        self.split = split
        # Before the parent scans the folder, which must then exist.
        self.toyscenes_meta = ensure_toyscenes(
            data_root,
            num_train=num_train,
            num_val=num_val,
            img_size=img_size,
            seed=seed,
            num_workers=num_workers)
        super().__init__(
            data_root=data_root,
            data_prefix=osp.join(split, 'images'),
            with_label=False,
            **kwargs)
