"""The dense correspondence probe: geometry, analytic cases, and a real
backbone through DenseProbeSuite."""
import math

import pytest
import torch

from dense_contrast.evaluation.dense_probes import (DenseCorrespondenceProbe,
                                                    ViewPairs,
                                                    correspondence_accuracy,
                                                    crop_views,
                                                    sample_view_pairs,
                                                    true_cells)


def _position_features(pairs: ViewPairs, view: int, grid: int) -> torch.Tensor:
    """Features that encode each cell's image position exactly: sinusoids
    of the image coordinates of the cell centre (cosine similarity peaks
    where the positions agree). Shape (P, 32, grid, grid)."""
    boxes = pairs.box1 if view == 1 else pairs.box2
    centres = (torch.arange(grid) + 0.5) / grid
    gy, gx = torch.meshgrid(centres, centres, indexing='ij')
    freqs = torch.arange(1, 9).float()[:, None, None] * math.pi
    out = []
    for p, box in enumerate(boxes):
        u = 1 - gx if (view == 2 and pairs.flip2[p]) else gx
        x = box[0] + u * (box[2] - box[0])
        y = box[1] + gy * (box[3] - box[1])
        out.append(torch.cat([torch.cos(freqs * x), torch.sin(freqs * x),
                              torch.cos(freqs * y), torch.sin(freqs * y)]))
    return torch.stack(out)


def test_identical_views_score_100():
    pairs = sample_view_pairs(20, seed=0)
    same = ViewPairs(pairs.box1, pairs.box1, torch.zeros(20, dtype=torch.bool))
    feats = torch.randn(20, 16, 8, 8)
    result = correspondence_accuracy(feats, feats, same)
    assert result['corr_acc'] == 100.0
    assert result['corr_locations'] == 20 * 64


def test_position_features_score_100_under_a_known_shift_and_flip():
    pairs = sample_view_pairs(50, seed=1, flip_prob=0.5)
    assert pairs.flip2.any() and not pairs.flip2.all()
    result = correspondence_accuracy(
        _position_features(pairs, 1, 8), _position_features(pairs, 2, 8),
        pairs, tolerance=1)
    assert result['corr_acc'] == 100.0
    # The same features with view 2's flips ignored are wrong wherever a
    # view is mirrored: the probe sees the geometry.
    unflipped = ViewPairs(pairs.box1, pairs.box2, ~pairs.flip2)
    wrong = correspondence_accuracy(
        _position_features(pairs, 1, 8), _position_features(pairs, 2, 8),
        unflipped, tolerance=1)
    assert wrong['corr_acc'] < 80.0


def test_random_features_score_near_chance():
    pairs = sample_view_pairs(100, seed=2)
    result = correspondence_accuracy(
        torch.randn(100, 32, 8, 8), torch.randn(100, 32, 8, 8), pairs)
    assert abs(result['corr_acc'] - result['corr_chance']) < 4.0
    # about 9 of 64 cells: (2 * 1 + 1) ** 2 / 64, fewer at the border
    assert 8.0 < result['corr_chance'] < 14.1


def test_crop_views_and_true_cells_agree():
    """A view of an image that holds its own x and y coordinates shows, at
    each cell centre, the coordinates true_cells maps that cell to."""
    size = 64
    coords = (torch.arange(size) + 0.5) / size
    gy, gx = torch.meshgrid(coords, coords, indexing='ij')
    image = torch.stack([gx, gy, torch.zeros_like(gx)])[None].repeat(
        10, 1, 1, 1)
    pairs = sample_view_pairs(10, seed=3, flip_prob=0.5)
    view2 = crop_views(image, pairs.box2, 32, pairs.flip2)
    grid = 8
    row, col, inside = true_cells(pairs, (grid, grid), (grid, grid))
    # Image position of each view-1 cell centre.
    c = (torch.arange(grid) + 0.5) / grid
    cy, cx = torch.meshgrid(c, c, indexing='ij')
    b1 = pairs.box1
    img_x = b1[:, 0:1] + cx.reshape(1, -1) * (b1[:, 2:3] - b1[:, 0:1])
    # The view-2 pixel at the centre of the predicted cell holds an x
    # within one cell of view 2 of the true x.
    step = 32 // grid
    for p in range(10):
        got = view2[p, 0, row[p] * step + step // 2, col[p] * step + step // 2]
        width = (pairs.box2[p, 2] - pairs.box2[p, 0]) / grid
        err = (got - img_x[p]).abs()[inside[p]]
        assert (err <= width + 1e-4).all(), (p, err.max(), width)


def test_probe_argument_errors():
    with pytest.raises(ValueError, match='tolerance'):
        DenseCorrespondenceProbe(tolerance=-1)
    with pytest.raises(ValueError, match='num_pairs'):
        DenseCorrespondenceProbe(num_pairs=0)
    with pytest.raises(ValueError, match='area_range'):
        DenseCorrespondenceProbe(area_range=(0.0, 1.0))


def test_suite_runs_the_probe_on_a_backbone(tmp_path):
    from mmpretrain.models import ResNet

    from dense_contrast.datasets import ensure_toyscenes
    from dense_contrast.evaluation import DenseProbeSuite
    root = str(tmp_path / 'toy')
    ensure_toyscenes(root, num_train=4, num_val=4, num_test=0, img_size=64,
                     progress=False)
    suite = DenseProbeSuite(
        root, num_train=4, num_val=4, stage=2,
        probes=[dict(type='DenseCorrespondenceProbe', num_pairs=6),
                dict(type='DenseCorrespondenceProbe', num_pairs=6,
                     photometric=True, prefix='corr_photo')])
    backbone = ResNet(depth=18, base_channels=8, stem_channels=8)
    backbone.init_weights()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    results = suite(backbone, [123.7, 116.3, 103.5], [58.4, 57.1, 57.4])
    assert set(results) == {'corr_acc', 'corr_chance', 'corr_photo_acc',
                            'corr_photo_chance'}
    assert 0.0 <= results['corr_acc'] <= 100.0
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, before[key])
