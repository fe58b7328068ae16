"""How toy scenes are drawn: each category's name, shape and texture, the
colour distribution every object and clutter patch draws from, and the
shape of clutter patches.

Class identity is carried by shape and texture only: every instance draws
its two colours from one distribution, whatever its category, so the colour
of a pixel says nothing about its class (a per-pixel colour classifier
scores near chance; a test checks it).
"""
import colorsys
import math
from typing import Callable, List, NamedTuple, Tuple

import numpy as np

__all__ = [
    'TOYSCENES_CLASSES', 'TOYSCENES_PALETTE', 'CATEGORIES', 'Category',
    'SHAPE_EXTENT', 'hsv', 'object_colours', 'rotate', 'shape_blob',
    'DISTRACTOR_TEXTURES'
]

#: Object categories; category id ``k`` (1..C) is ``TOYSCENES_CLASSES[k-1]``.
TOYSCENES_CLASSES = ('disc', 'square', 'triangle', 'ring', 'cross', 'star')

# ---------------------------------------------------------------------------
# Colours
# ---------------------------------------------------------------------------

# Hues of the visualisation palette (label colours only: instances draw their
# colours from one distribution for every class, see object_colours).
_PALETTE_HUES = (0.02, 0.60, 0.33, 0.80, 0.14, 0.50)


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """Convert an HSV colour to RGB.

    Args:
        h (float): Hue; taken modulo 1.
        s (float): Saturation in [0, 1].
        v (float): Value in [0, 1].

    Returns:
        np.ndarray: RGB in [0, 1], shape (3, ), dtype float64.
    """
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float64)


def _palette() -> List[List[int]]:
    """Visualisation palette for background + categories, (C + 1) x RGB."""
    colours = [[0, 0, 0]]
    for hue in _PALETTE_HUES:
        colours.append([int(round(255 * c)) for c in hsv(hue, 0.8, 0.9)])
    return colours


#: RGB colours for label 0 (background) and labels 1..C, for visualisation.
TOYSCENES_PALETTE = tuple(tuple(c) for c in _palette())


def object_colours(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """The two texture colours of one object or clutter patch.

    One distribution for every category and for clutter: a saturated main
    colour of uniformly random hue, and the same hue much darker or much
    paler, so that the texture has contrast.

    Args:
        rng (np.random.Generator): The scene's random stream.

    Returns:
        tuple[np.ndarray, np.ndarray]: Two RGB colours in [0, 1], shape (3, ).
    """
    h = rng.random()
    s = rng.uniform(0.45, 0.95)
    v = rng.uniform(0.5, 0.95)
    main = hsv(h, s, v)
    if rng.random() < 0.5:
        other = hsv(h + rng.uniform(-0.02, 0.02), s,
                    v * rng.uniform(0.3, 0.5))
    else:
        other = hsv(h + rng.uniform(-0.02, 0.02), s * rng.uniform(0.2, 0.45),
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


def rotate(dx: np.ndarray, dy: np.ndarray,
           angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """Rotate offsets by ``-angle`` (i.e. express them in a rotated frame).

    Args:
        dx (np.ndarray): Horizontal offsets, any shape.
        dy (np.ndarray): Vertical offsets, the shape of ``dx``.
        angle (float): Angle of the frame in radians.

    Returns:
        tuple[np.ndarray, np.ndarray]: The offsets along the rotated axes,
        each of the shape of ``dx``.
    """
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c


# ---------------------------------------------------------------------------
# Shapes: implicit functions of normalised, rotated coordinates (u, v).
# Every shape fits in the disc u^2 + v^2 <= 1.1^2, which bounds the window
# the shape is evaluated in.
# ---------------------------------------------------------------------------
SHAPE_EXTENT = 1.1


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


def shape_blob(u: np.ndarray, v: np.ndarray, p: dict) -> np.ndarray:
    """Outline of a clutter patch: a lumpy blob, no category's shape.

    The boundary radius is ``0.75 + a2 cos(2 theta + p2) + a3 cos(3 theta +
    p3)`` with ``a2 <= 0.25`` and ``a3 <= 0.15``: smooth, with two or three
    broad lobes (never the five tips of a star or the corners of a polygon),
    and inside the window of radius :data:`SHAPE_EXTENT`.

    Args:
        u (np.ndarray): Normalised, rotated coordinates, shape (h, w).
        v (np.ndarray): The same, shape (h, w).
        p (dict): ``a2``, ``p2``, ``a3``, ``p3``.

    Returns:
        np.ndarray: Boolean mask, shape (h, w).
    """
    r = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    bound = (0.75 + p['a2'] * np.cos(2 * theta + p['p2']) +
             p['a3'] * np.cos(3 * theta + p['p3']))
    return r <= bound


# ---------------------------------------------------------------------------
# Textures: colour of an object as a function of pixel offsets (dx, dy) from
# its centre, so the pattern moves with the object. Periods are in pixels and
# do not scale with the object: texture is a *local* cue.
# Signature: (dx, dy) of shape (h, w), the object radius in pixels and the
# texture parameters -> RGB colours in [0, 1] of shape (h, w, 3).
# ---------------------------------------------------------------------------


def _tex_stripes(dx: np.ndarray, dy: np.ndarray, radius: float,
                 p: dict) -> np.ndarray:
    t, _ = rotate(dx, dy, p['angle'])
    return _mix(p['a'], p['b'], (t / p['period'] + p['phase']) % 1.0 < 0.5)


def _tex_checker(dx: np.ndarray, dy: np.ndarray, radius: float,
                 p: dict) -> np.ndarray:
    x, y = rotate(dx, dy, p['angle'])
    col = np.floor(x / p['period'] + p['phase'])
    row = np.floor(y / p['period'] + p['phase'])
    return _mix(p['a'], p['b'], (col + row) % 2 == 0)


def _tex_dots(dx: np.ndarray, dy: np.ndarray, radius: float,
              p: dict) -> np.ndarray:
    x, y = rotate(dx, dy, p['angle'])
    fx = (x / p['period'] + p['phase']) % 1.0 - 0.5
    fy = (y / p['period'] + p['phase']) % 1.0 - 0.5
    return _mix(p['a'], p['b'], fx * fx + fy * fy <= 0.3**2)


def _tex_gradient(dx: np.ndarray, dy: np.ndarray, radius: float,
                  p: dict) -> np.ndarray:
    t, _ = rotate(dx, dy, p['angle'])
    return _mix(p['a'], p['b'], np.clip(0.5 + t / (2.0 * radius), 0.0, 1.0))


def _tex_speckle(dx: np.ndarray, dy: np.ndarray, radius: float,
                 p: dict) -> np.ndarray:
    # Per-pixel noise from a seed drawn at sampling time: the scene's main
    # random stream does not depend on the window size.
    noise = np.random.default_rng(p['noise_seed']).random(dx.shape)
    return _mix(p['a'], p['b'], noise)


def _tex_waves(dx: np.ndarray, dy: np.ndarray, radius: float,
               p: dict) -> np.ndarray:
    x, y = rotate(dx, dy, p['angle'])
    k = 2 * math.pi / p['period']
    return _mix(p['a'], p['b'], 0.5 + 0.5 * np.sin(k * x) * np.sin(k * y))


# Distractor textures: families no category uses, for background clutter.


def _lattice_noise(shape: Tuple[int, int], period: float,
                   seed: int) -> np.ndarray:
    """Bilinear interpolation of a random lattice with ``period`` pixels
    per cell: smooth irregular values in [0, 1], shape ``shape``."""
    h, w = shape
    lattice = np.random.default_rng(seed).random(
        (int(h / period) + 2, int(w / period) + 2))
    ys, xs = np.arange(h) / period, np.arange(w) / period
    y0, x0 = ys.astype(np.int64), xs.astype(np.int64)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = lattice[y0][:, x0] * (1 - fx) + lattice[y0][:, x0 + 1] * fx
    bottom = (lattice[y0 + 1][:, x0] * (1 - fx) +
              lattice[y0 + 1][:, x0 + 1] * fx)
    return top * (1 - fy) + bottom * fy


def _tex_blotches(dx: np.ndarray, dy: np.ndarray, radius: float,
                  p: dict) -> np.ndarray:
    # Irregular spots: the lattice noise thresholded at its middle.
    noise = _lattice_noise(dx.shape, p['period'], p['noise_seed'])
    return _mix(p['a'], p['b'], noise > 0.5)


def _tex_veins(dx: np.ndarray, dy: np.ndarray, radius: float,
               p: dict) -> np.ndarray:
    # Thin irregular lines: where the lattice noise crosses its middle.
    noise = _lattice_noise(dx.shape, p['period'], p['noise_seed'])
    return _mix(p['a'], p['b'], np.abs(noise - 0.5) < 0.06)


def _tex_flat(dx: np.ndarray, dy: np.ndarray, radius: float,
              p: dict) -> np.ndarray:
    # One colour, no pattern.
    return _mix(p['a'], p['b'], np.zeros(dx.shape))


#: Texture families of background clutter, and their period ranges in
#: pixels: none of them is a category's, so a texture tells an object from
#: clutter, while clutter's colours (from the objects' distribution) do not.
DISTRACTOR_TEXTURES = (
    (_tex_blotches, (3, 7)),
    (_tex_veins, (6, 12)),
    (_tex_flat, (1, 1)),
)


class Category(NamedTuple):
    """How one category is drawn.

    Attributes:
        name (str): Class name, as in :data:`TOYSCENES_CLASSES`.
        shape (Callable): ``(u, v, params) -> mask`` on normalised, rotated
            coordinates of shape (h, w).
        texture (Callable): ``(dx, dy, radius, params) -> colours`` of shape
            (h, w, 3).
        period_range (tuple[float, float]): Range of the texture period in
            pixels.
    """
    name: str
    shape: Callable[[np.ndarray, np.ndarray, dict], np.ndarray]
    texture: Callable[..., np.ndarray]
    period_range: Tuple[float, float]


CATEGORIES = (
    Category('disc', _shape_disc, _tex_stripes, (4, 9)),
    Category('square', _shape_square, _tex_checker,
             (3, 7)),
    Category('triangle', _shape_triangle, _tex_dots,
             (4, 8)),
    Category('ring', _shape_ring, _tex_gradient, (1, 1)),
    Category('cross', _shape_cross, _tex_speckle, (1, 1)),
    Category('star', _shape_star, _tex_waves, (5, 10)),
)
assert tuple(c.name for c in CATEGORIES) == TOYSCENES_CLASSES
