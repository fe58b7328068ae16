"""Render one toy scene: paint a background and its clutter, draw the
layout of the objects and their textures, and derive the semantic and
instance maps."""
import math
from typing import List, NamedTuple, Tuple

import numpy as np

from .appearance import (CATEGORIES, DISTRACTOR_TEXTURES, SHAPE_EXTENT, hsv,
                         object_colours, rotate, shape_blob)

__all__ = [
    'GENERATOR_VERSION', 'SPLIT_IDS', 'TEST_SEED_OFFSET', 'MIN_VISIBLE_AREA',
    'Scene',
    'render_scene'
]

#: Bump whenever the drawn content changes, so stale folders are detected.
#: 2: colours from one distribution for every class, background clutter,
#: a test split.
GENERATOR_VERSION = 2

#: Split name -> the id mixed into the random seed.
SPLIT_IDS = {'train': 0, 'val': 1, 'test': 2}

#: The test split is drawn from its own seed, ``seed + TEST_SEED_OFFSET``:
#: choices are made on val, reported numbers come from images that no
#: choice saw, not even through the seed.
TEST_SEED_OFFSET = 1000

#: Instances with fewer visible pixels are removed from the scene (see
#: :mod:`dense_contrast.datasets.toyscenes`): slivers of 1-7 px are noise
#: for detection training.
MIN_VISIBLE_AREA = 8

#: Range of object radii as a fraction of the image size: from tiny up to
#: objects about half the image across. Sampled log-uniformly so that small
#: objects are common, as in natural images.
RADIUS_RANGE = (0.04, 0.25)

#: Smallest radius in pixels, so that shapes stay recognisable at 64 px.
MIN_RADIUS_PX = 3.0

#: Number of objects per image, inclusive.
NUM_OBJECTS_RANGE = (2, 6)

#: Clutter patches per image (inclusive) and their radius range as a
#: fraction of the image size. Patches are background (label 0): lumpy
#: blobs in the objects' colours with distractor textures (blotches,
#: veins, flat), so that neither a pixel's colour nor the image's colour
#: statistics tell objects or classes apart.
NUM_CLUTTER_RANGE = (1, 3)
CLUTTER_RADIUS_RANGE = (0.08, 0.28)


class _Instance(NamedTuple):
    """All random choices of one object, drawn before anything is painted."""
    category: int  # 1..C
    cx: float
    cy: float
    radius: float
    angle: float
    shape_params: dict
    texture_params: dict


def _sample_texture(rng: np.random.Generator,
                    period_range: Tuple[float, float]) -> dict:
    """Draw the texture parameters of one object or clutter patch: its two
    colours (one distribution for every class), orientation, period in
    pixels, phase and the seed of per-pixel noise."""
    a, b = object_colours(rng)
    return dict(
        a=a,
        b=b,
        angle=rng.uniform(0, 2 * math.pi),
        period=rng.uniform(*period_range),
        phase=rng.uniform(0, 1),
        noise_seed=int(rng.integers(2**63)))


def _sample_instance(rng: np.random.Generator, img_size: int) -> _Instance:
    """Draw the layout and appearance of one object."""
    cat_idx = int(rng.integers(len(CATEGORIES)))
    cat = CATEGORIES[cat_idx]
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
    texture_params = _sample_texture(rng, cat.period_range)
    return _Instance(cat_idx + 1, float(cx), float(cy), float(radius),
                     float(angle), shape_params, texture_params)


def _window(inst: _Instance, img_size: int) -> Tuple[int, int, int, int]:
    """Pixel box ``(y0, y1, x0, x1)`` that contains the shape, clipped."""
    half = SHAPE_EXTENT * inst.radius + 1
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
    u, v = rotate(dx / inst.radius, dy / inst.radius, inst.angle)
    return CATEGORIES[inst.category - 1].shape(u, v, inst.shape_params)


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
    a = hsv(h, s, v)
    b = hsv(h + rng.uniform(-0.08, 0.08), s,
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
        x, _ = rotate(xs, ys, angle)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (x + warp) / period)
    t = t.astype(np.float32)[..., None]
    img = a.astype(np.float32) * (1 - t) + b.astype(np.float32) * t
    # Faint sensor-like grain, much weaker than the 'cross' speckle texture.
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.015)
    return img


def _paint_clutter(rng: np.random.Generator, image: np.ndarray) -> None:
    """Paint background clutter in place: lumpy blobs (no category's shape)
    with a distractor texture (no category's), in colours from the objects'
    distribution.

    Args:
        rng (np.random.Generator): The scene's random stream.
        image (np.ndarray): The background, RGB floats, shape (S, S, 3).
    """
    img_size = image.shape[0]
    lo, hi = CLUTTER_RADIUS_RANGE
    num = int(rng.integers(NUM_CLUTTER_RANGE[0], NUM_CLUTTER_RANGE[1] + 1))
    for _ in range(num):
        radius = img_size * math.exp(rng.uniform(math.log(lo), math.log(hi)))
        cx, cy = rng.uniform(0, img_size, size=2)
        angle = rng.uniform(0, 2 * math.pi)
        outline = dict(
            a2=rng.uniform(0.1, 0.25),
            p2=rng.uniform(0, 2 * math.pi),
            a3=rng.uniform(0.05, 0.15),
            p3=rng.uniform(0, 2 * math.pi))
        paint, period_range = DISTRACTOR_TEXTURES[int(
            rng.integers(len(DISTRACTOR_TEXTURES)))]
        texture = _sample_texture(rng, period_range)
        patch = _Instance(0, float(cx), float(cy), float(radius),
                          float(angle), outline, texture)
        box = _window(patch, img_size)
        y0, y1, x0, x1 = box
        if y1 <= y0 or x1 <= x0:
            continue
        dx, dy = _offsets(patch, box)
        u, v = rotate(dx / radius, dy / radius, angle)
        mask = shape_blob(u, v, outline)
        colours = paint(dx, dy, radius, texture)
        image[y0:y1, x0:x1][mask] = colours[mask]


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
        seed (int): Seed of the whole data set (the test split uses
            ``seed + TEST_SEED_OFFSET``).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        index (int): Index of the image in the split.
        img_size (int): Side of the square image in pixels. Defaults to 128.

    Returns:
        Scene: Image, semantic map, visible-instance map and categories.
    """
    if split not in SPLIT_IDS:
        raise ValueError(
            f'split must be one of {tuple(SPLIT_IDS)}, got {split!r}')
    split_seed = seed + TEST_SEED_OFFSET if split == 'test' else seed
    rng = np.random.default_rng([split_seed, SPLIT_IDS[split], index])
    image = _background(rng, img_size)
    _paint_clutter(rng, image)
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
        colours = CATEGORIES[inst.category - 1].texture(
            dx, dy, inst.radius, inst.texture_params)
        image[y0:y1, x0:x1][visible] = colours[visible]

    categories = [inst.category for inst in instances]
    lut = np.array([0] + categories, dtype=np.uint8)
    semantic = lut[inst_map]
    image = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    return Scene(image, semantic, inst_map, categories)
