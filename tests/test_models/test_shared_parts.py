"""The shared core on its own: queue, matching, InfoNCE head, neck."""
import math

import pytest
import torch
import torch.nn.functional as F

import dense_contrast  # noqa: F401
from dense_contrast.models import (DenseProjectionNeck, FeatureQueue,
                                   InfoNCEHead, gather_locations,
                                   match_by_similarity)
from dense_contrast.registry import MODELS


# ------------------------------------------------------------------ queue
def test_queue_fifo_with_wrap_around():
    queue = FeatureQueue(dim=2, length=5)
    pushed = []
    for step in range(4):  # 3 keys a step, 5 slots: wraps at every push
        keys = torch.tensor([[step * 3.0 + i, 1.0] for i in range(3)])
        queue.push(keys)
        pushed.extend(keys.unbind(0))
        # Column ptr-1, ptr-2, ... walking backwards (mod 5) holds the most
        # recent keys, newest first.
        ptr = int(queue.ptr)
        assert ptr == (3 * (step + 1)) % 5
        for age, key in enumerate(reversed(pushed[-5:])):
            assert torch.equal(queue.feats[:, (ptr - 1 - age) % 5], key)


def test_queue_matches_moco_positions_when_divisible():
    queue = FeatureQueue(dim=4, length=8)
    reference = queue.feats.clone()
    ptr = 0
    for _ in range(5):
        keys = F.normalize(torch.randn(4, 4), dim=1)
        queue.push(keys)
        reference[:, ptr:ptr + 4] = keys.t()
        ptr = (ptr + 4) % 8
        assert torch.equal(queue.feats, reference)
        assert int(queue.ptr) == ptr


def test_queue_rejects_a_batch_longer_than_itself():
    queue = FeatureQueue(dim=2, length=4)
    with pytest.raises(ValueError, match='batch of 5 keys does not fit a '
                       'queue of length 4'):
        queue.push(torch.randn(5, 2))


def test_queue_is_in_state_dict_and_push_keeps_autograd_valid():
    queue = FeatureQueue(dim=3, length=6)
    assert set(queue.state_dict()) == {'feats', 'ptr'}
    q = torch.randn(2, 3, requires_grad=True)
    logits = q @ queue.feats
    queue.push(torch.randn(2, 3))  # must not invalidate the graph above
    logits.sum().backward()
    assert q.grad is not None


# ------------------------------------------------------------------ matching
def test_match_by_similarity_on_a_hand_made_case():
    # One image, 2-d features, 3 query and 3 key locations.
    query = torch.tensor([[[1.0, 0.0, 0.6], [0.0, 1.0, 0.8]]])  # (1, 2, 3)
    key = torch.tensor([[[0.0, 0.8, 1.0], [1.0, 0.6, 0.0]]])
    idx = match_by_similarity(query, key)
    # q0=(1,0) best k2=(1,0); q1=(0,1) best k0=(0,1); q2=(.6,.8) best k1.
    assert idx.tolist() == [[2, 0, 1]]


def test_gather_locations_contract():
    feats = torch.randn(2, 4, 5)
    idx = torch.randint(0, 5, (2, 3))
    out = gather_locations(feats, idx)
    for n in range(2):
        for s in range(3):
            assert torch.equal(out[n, :, s], feats[n, :, idx[n, s]])


# ------------------------------------------------------------------ head
def test_info_nce_equals_mmpretrain_contrastive_head():
    ours = InfoNCEHead(temperature=0.2)
    ref = MODELS.build(
        dict(
            type='mmpretrain.ContrastiveHead',
            loss=dict(type='mmpretrain.CrossEntropyLoss'),
            temperature=0.2))
    q = F.normalize(torch.randn(6, 8), dim=1).requires_grad_()
    p = F.normalize(torch.randn(6, 8), dim=1)
    bank = F.normalize(torch.randn(8, 40), dim=0)
    loss = ours.loss(q, p, bank)
    (grad, ) = torch.autograd.grad(loss, q)
    q_ref = q.detach().clone().requires_grad_()
    ref_loss = ref.loss((q_ref * p).sum(1, keepdim=True), q_ref @ bank)
    ref_loss.backward()
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad, q_ref.grad, rtol=1e-5, atol=1e-7)


def test_info_nce_analytic_case():
    # Positive and negatives all equal to the query: every logit is 1/tau,
    # so the loss is log(K + 1).
    q = F.normalize(torch.ones(3, 4), dim=1)
    bank = q[0].unsqueeze(1).repeat(1, 9)
    loss = InfoNCEHead(temperature=0.5).loss(q, q, bank)
    assert loss.item() == pytest.approx(math.log(10), rel=1e-6)


def test_info_nce_rejects_bad_temperature():
    with pytest.raises(ValueError, match='temperature must be > 0, got 0'):
        InfoNCEHead(temperature=0)


# ------------------------------------------------------------------ neck
def test_neck_shapes_and_mmpretrain_weights():
    ref = MODELS.build(
        dict(
            type='mmpretrain.DenseCLNeck',
            in_channels=16,
            hid_channels=12,
            out_channels=8,
            num_grid=None))
    ours = DenseProjectionNeck(16, 12, 8)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 16, 3, 3)
    out = ours((x, ))
    expected = ref((x, ))
    assert out.global_proj.shape == (2, 8)
    assert out.dense_proj.shape == (2, 8, 9)
    assert out.dense_pooled.shape == (2, 8)
    for mine, theirs in zip(out, expected):
        torch.testing.assert_close(mine, theirs)


def test_neck_num_grid_pools_the_dense_branch():
    neck = DenseProjectionNeck(16, 12, 8, num_grid=2)
    out = neck((torch.randn(2, 16, 7, 7), ))
    assert out.dense_proj.shape == (2, 8, 4)
