"""The shared InfoNCE function and the dense-rows helper."""
import math

import pytest
import torch
import torch.nn.functional as F

from dense_contrast.models import (dense_to_rows, info_nce,
                                   info_nce_shared_negatives)


def _unit(*shape, dim=-1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=generator), dim=dim)


def test_info_nce_closed_form_with_orthogonal_negatives():
    # Positive = query (logit 1 / tau), K negatives orthogonal to it (logit
    # 0): loss = -log(e^(1/tau) / (e^(1/tau) + K)) = log(1 + K e^(-1/tau)).
    tau, num_neg = 0.5, 3
    query = torch.eye(4)[:1].repeat(2, 1)  # e_0, twice
    negatives = torch.eye(4)[:, 1:]  # e_1, e_2, e_3 as columns: D, K
    loss = info_nce(query, query, negatives, tau)
    expected = math.log(1 + num_neg * math.exp(-1 / tau))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_excluded_negatives_equal_dropping_them():
    query, positive = _unit(5, 8, seed=1), _unit(5, 8, seed=2)
    negatives = _unit(8, 12, dim=0, seed=3)
    keep = torch.arange(12) % 3 != 0
    exclude = (~keep).expand(5, -1)
    masked = info_nce(query, positive, negatives, 0.2, exclude=exclude)
    dropped = info_nce(query, positive, negatives[:, keep], 0.2)
    torch.testing.assert_close(masked, dropped)


def test_per_query_exclusion_keeps_the_loss_finite():
    query = _unit(3, 8, seed=4).requires_grad_()
    negatives = _unit(8, 6, dim=0, seed=5)
    exclude = torch.zeros(3, 6, dtype=torch.bool)
    exclude[0] = True  # query 0 has no negative left
    loss = info_nce(query, query.detach(), negatives, 0.2, exclude=exclude)
    (grad, ) = torch.autograd.grad(loss, query)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_one_valid_positive_equals_the_single_positive_loss():
    query = _unit(6, 8, seed=6)
    positives = _unit(6, 4, 8, seed=7)
    negatives = _unit(8, 10, dim=0, seed=8)
    chosen = torch.tensor([0, 3, 1, 2, 0, 1])
    valid = F.one_hot(chosen, 4).bool()
    multi = info_nce(query, positives, negatives, 0.2, valid=valid)
    single = info_nce(query, positives[torch.arange(6), chosen], negatives,
                      0.2)
    torch.testing.assert_close(multi, single)


def test_multiple_positives_against_a_loop():
    query, positives = _unit(4, 8, seed=9), _unit(4, 3, 8, seed=10)
    negatives = _unit(8, 5, dim=0, seed=11)
    valid = torch.tensor([[1, 1, 1], [1, 0, 0], [1, 0, 1], [0, 1, 1]]).bool()
    tau = 0.3
    expected = []
    for m in range(4):
        pos = [
            float(query[m] @ positives[m, j]) / tau for j in range(3)
            if valid[m, j]
        ]
        neg = [float(query[m] @ negatives[:, k]) / tau for k in range(5)]
        log_den = math.log(sum(math.exp(v) for v in pos + neg))
        expected.append(sum(log_den - v for v in pos) / len(pos))
    loss = info_nce(query, positives, negatives, tau, valid=valid)
    assert loss.item() == pytest.approx(sum(expected) / 4, rel=1e-5)


def test_shared_negatives_equal_separate_calls():
    query, single = _unit(5, 8, seed=12), _unit(5, 8, seed=13)
    multi = _unit(5, 3, 8, seed=14)
    valid = torch.rand(5, 3, generator=torch.Generator().manual_seed(0)) > .5
    valid[:, 0] = True
    negatives = _unit(8, 7, dim=0, seed=15)
    shared = info_nce_shared_negatives(query, [(single, None), (multi, valid)],
                                       negatives, 0.2)
    torch.testing.assert_close(shared[0],
                               info_nce(query, single, negatives, 0.2))
    torch.testing.assert_close(
        shared[1], info_nce(query, multi, negatives, 0.2, valid=valid))


def test_float32_guard_under_bf16_inputs():
    query, positive = _unit(6, 16, seed=16), _unit(6, 16, seed=17)
    positives = _unit(6, 2, 16, seed=18)
    negatives = _unit(16, 32, dim=0, seed=19)
    bf16 = [t.bfloat16() for t in (query, positive, positives, negatives)]
    loss = info_nce(bf16[0], bf16[1], bf16[3], 0.2)
    multi = info_nce(bf16[0], bf16[2], bf16[3], 0.2)
    # Reductions run in float32; only the negative product is rounded.
    assert loss.dtype == multi.dtype == torch.float32
    torch.testing.assert_close(
        loss, info_nce(query, positive, negatives, 0.2), rtol=1e-2, atol=0)
    torch.testing.assert_close(
        multi, info_nce(query, positives, negatives, 0.2), rtol=1e-2, atol=0)
    # float64 keeps its precision.
    assert info_nce(query.double(), positive.double(), negatives.double(),
                    0.2).dtype == torch.float64


def test_bad_shapes_and_temperature_are_named():
    query, negatives = _unit(3, 4), _unit(4, 5, dim=0)
    with pytest.raises(ValueError, match=r'exclude must have shape \(M, K\)'):
        info_nce(
            query,
            query,
            negatives,
            0.2,
            exclude=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match='valid must have shape'):
        info_nce(
            query,
            query.unsqueeze(1),
            negatives,
            0.2,
            valid=torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='temperature must be > 0'):
        info_nce(query, query, negatives, 0.0)


def test_dense_to_rows_round_trip():
    num, dim, grid = 2, 3, 5
    dense = torch.randn(num, dim, grid)
    rows = dense_to_rows(dense)
    assert rows.shape == (num * grid, dim)
    for n in range(num):
        for s in range(grid):
            assert torch.equal(rows[n * grid + s], dense[n, :, s])
    back = rows.view(num, grid, dim).transpose(1, 2)
    assert torch.equal(back, dense)
