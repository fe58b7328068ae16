"""MontageBuilder geometry against a slow per-tile reference."""
import pytest
import torch
import torch.nn.functional as F

from dense_contrast.models.utils import (MontageBuilder, MontageGeometryError,
                                         split_windows)
from dense_contrast.registry import MODELS

DEFAULT_ARGS = dict(
    type='MontageBuilder', ratios=(1, 2, 4), num_montages=(6, 3, 1))


def _build(**overrides):
    return MODELS.build({**DEFAULT_ARGS, **overrides})


@pytest.mark.parametrize('level', [1, 2])
def test_tiles_are_downscaled_sources_in_row_major_order(level):
    views = torch.randn(6, 3, 64, 96)
    montage = _build()
    out = montage(views, level)
    r = montage.ratios[level]
    assert out.images.shape == (montage.num_montages[level], 3, 64, 96)
    assert out.sources.shape == (montage.num_tiles(level), )
    # Authors' sampling: a permutation modulo N, so counts differ by <= 1.
    counts = torch.bincount(out.sources, minlength=6)
    assert counts.max() - counts.min() <= 1
    h, w = 64 // r, 96 // r
    for t, src in enumerate(out.sources.tolist()):
        m, row, col = t // r**2, (t % r**2) // r, t % r
        tile = out.images[m, :, row * h:(row + 1) * h, col * w:(col + 1) * w]
        ref = F.interpolate(views[src:src + 1], scale_factor=1 / r)[0]
        torch.testing.assert_close(tile, ref, rtol=0, atol=0)
    # Cutting the canvases into tile-sized windows gives the tiles in order.
    windows = split_windows(out.images, (h, w))
    small = F.interpolate(views, size=(h, w))
    torch.testing.assert_close(windows, small[out.sources], rtol=0, atol=0)


def test_level_zero_is_the_views_in_order():
    views = torch.randn(6, 3, 64, 64)
    out = _build()(views, 0)
    assert out.images is views
    assert out.sources.tolist() == list(range(6))


def test_split_windows_order_matches_the_formula():
    feats = torch.arange(2 * 3 * 4 * 6, dtype=torch.float).view(2, 3, 4, 6)
    windows = split_windows(feats, (2, 3))
    g_h, g_w = 2, 2
    for b in range(2):
        for i in range(g_h):
            for j in range(g_w):
                ref = feats[b, :, i * 2:(i + 1) * 2, j * 3:(j + 1) * 3]
                assert torch.equal(windows[(b * g_h + i) * g_w + j], ref)
    with pytest.raises(MontageGeometryError, match='whole 3x4 windows'):
        split_windows(feats, (3, 4))


def test_bilinear_is_antialiased_average():
    views = torch.randn(6, 3, 64, 64)
    out = _build(interpolation='bilinear')(views, 1)
    ref = F.interpolate(
        views, size=(32, 32), mode='bilinear', antialias=True)
    torch.testing.assert_close(out.images[0, :, :32, :32],
                               ref[out.sources[0]])


@pytest.mark.parametrize('size', [(65, 64), (64, 100), (48, 48)])
def test_sizes_that_do_not_tile_raise_a_named_error(size):
    with pytest.raises(MontageGeometryError, match='multiples of window'):
        _build()(torch.randn(6, 3, *size), 1)


def test_batch_must_match_level_zero_count():
    with pytest.raises(MontageGeometryError, match=r'num_montages\[0\]=6'):
        _build()(torch.randn(4, 3, 64, 64), 1)


@pytest.mark.parametrize('kwargs, match', [
    (dict(ratios=(2, 4), num_montages=(1, 1)), 'start with 1'),
    (dict(ratios=(1, 3), num_montages=(1, 1)), 'powers of two'),
    (dict(ratios=(1, 4, 2), num_montages=(1, 1, 1)), 'powers of two'),
    (dict(ratios=(1, 64), num_montages=(1, 1)), 'divide window_stride'),
    (dict(num_montages=(6, 3)), 'one positive int per ratio'),
    (dict(num_montages=(6, 0, 1)), 'one positive int per ratio'),
])
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(MontageGeometryError, match=match):
        _build(**kwargs)
    with pytest.raises(ValueError, match='interpolation'):
        MontageBuilder(interpolation='bicubic')
