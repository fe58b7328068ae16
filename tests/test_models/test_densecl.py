"""DenseCL against mmpretrain's implementation, plus its own contracts."""
import re

import pytest
import torch
from model_builders import DENSECL, MMPRETRAIN_DENSECL, build

RTOL = 1e-5
# Largest relative error seen per quantity (printed by the parity test).
PARITY_ERRORS = {}


def _views(n: int = 4, size: int = 96, seed: int = 123):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(2)]


def _ours_name(mmpretrain_name: str) -> str:
    """mmpretrain parameter name -> ours (the neck's documented renames)."""
    name = re.sub(r'(^|\.)neck\.mlp2\.', r'\1neck.dense_mlp.', mmpretrain_name)
    name = re.sub(r'(^|\.)neck\.mlp\.', r'\1neck.global_mlp.', name)
    name = re.sub(r'^encoder_k\.module\.1\.mlp2\.',
                  'encoder_k.module.1.dense_mlp.', name)
    return re.sub(r'^encoder_k\.module\.1\.mlp\.',
                  'encoder_k.module.1.global_mlp.', name)


def _assert_close(a, b, what):
    """Relative error of the whole tensor, ||a - b|| / ||b|| <= 1e-5: after
    an SGD step, float-summation order alone moves near-zero entries by
    ~1e-6 of the tensor's scale, so an element-wise rtol cannot apply."""
    a, b = a.double(), b.double()
    error = ((a - b).norm() / b.norm().clamp_min(1e-12)).item()
    assert error <= RTOL, f'{what}: relative error {error:.2e}'
    PARITY_ERRORS[what.split('@')[0].split(' at ')[0]] = max(
        error, PARITY_ERRORS.get(what.split('@')[0].split(' at ')[0], 0.0))


@pytest.fixture
def pair():
    """mmpretrain's DenseCL and ours, ours loaded from its state dict."""
    ref = build(MMPRETRAIN_DENSECL)
    ours = build(DENSECL)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def test_mmpretrain_state_dict_loads_strict(pair):
    ref, ours = pair
    theirs = ref.state_dict()
    mine = ours.state_dict()
    assert len(theirs) == len(mine)
    for key, value in theirs.items():
        mapped = {
            'queue': 'global_queue.feats',
            'queue_ptr': 'global_queue.ptr',
            'queue2': 'dense_queue.feats',
            'queue2_ptr': 'dense_queue.ptr'
        }.get(key, _ours_name(key))
        assert torch.equal(mine[mapped], value), key


def _step(model, views, seed):
    torch.manual_seed(seed)  # same batch-shuffle permutation for both
    losses = model.loss([v.clone() for v in views], None)
    sum(losses.values()).backward()
    return losses


def test_two_steps_equal_mmpretrain(pair):
    """Losses, gradients, momentum update and queues equal mmpretrain's over
    two steps with an optimizer step in between, so the second EMA update
    really averages and the second step reads queues filled by the first.

    Each step starts ours from mmpretrain's state (through the documented
    key mapping): the step-2 gradients are small sums of large cancelling
    terms, so carrying over float noise from step 1 would amplify it.
    """
    ref, ours = pair
    opt_ref = torch.optim.SGD([p for p in ref.parameters() if p.requires_grad],
                              lr=0.05)
    for step in range(2):
        ours.load_state_dict(ref.state_dict(), strict=True)
        views = _views(seed=step)
        opt_ref.zero_grad()
        ours.zero_grad()
        ref_losses = _step(ref, views, seed=10 + step)
        our_losses = _step(ours, views, seed=10 + step)
        assert set(our_losses) == {'loss_single', 'loss_dense'}
        for key in ('loss_single', 'loss_dense'):
            _assert_close(our_losses[key], ref_losses[key], f'{key}@{step}')

        ours_params = dict(ours.named_parameters())
        for name, p in ref.named_parameters():
            if name.startswith('encoder_k'):
                continue
            _assert_close(ours_params[_ours_name(name)].grad, p.grad,
                          f'grad of {name} at step {step}')

        ours_state = ours.state_dict()
        for name, value in ref.encoder_k.state_dict().items():
            _assert_close(ours_state[_ours_name('encoder_k.' + name)], value,
                          f'encoder_k.{name} at step {step}')
        _assert_close(ours.global_queue.feats, ref.queue, 'queue')
        _assert_close(ours.dense_queue.feats, ref.queue2, 'queue2')
        assert int(ours.global_queue.ptr) == int(ref.queue_ptr)
        assert int(ours.dense_queue.ptr) == int(ref.queue2_ptr)
        opt_ref.step()
    worst = {
        group: max(v for k, v in PARITY_ERRORS.items() if k.startswith(pre))
        for group, pre in [('losses', 'loss'), ('gradients', 'grad'),
                           ('encoder_k', 'encoder_k'), ('queues', 'queue')]
    }
    print('\nparity with mmpretrain DenseCL, max relative error:', worst)
    # The second update averaged: key = m * old_key + (1 - m) * query.
    assert int(ours.encoder_k.steps) == 2
    assert not torch.allclose(ours.backbone.conv1.weight,
                              ours.encoder_k.module[0].conv1.weight)


def test_momentum_default_is_moco_m():
    model = build(DENSECL)
    assert model.momentum == 0.999
    assert model.encoder_k.momentum == pytest.approx(0.001)


@pytest.mark.parametrize('momentum', [0.001, -0.1, 1.0])
def test_bad_momentum_is_named(momentum):
    with pytest.raises(ValueError, match=f'momentum={momentum}|momentum must'):
        build(DENSECL, momentum=momentum)


def test_gradient_reach():
    """Every online parameter gets a gradient; the key encoder gets none and
    is not trainable."""
    model = build(DENSECL)
    losses = model.loss(_views(), None)
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if name.startswith('encoder_k'):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None, f'no gradient for {name}'
            assert torch.isfinite(p.grad).all(), name


def test_keys_come_from_the_momentum_encoder():
    """If the key encoder were the online one, perturbing it would change
    nothing; it must change the keys (and so the loss)."""
    model = build(DENSECL)
    views = _views()
    model.loss(views, None)  # first call copies the online weights
    torch.manual_seed(0)
    before = model.encode_key(views[1]).global_proj
    with torch.no_grad():
        for p in model.encoder_k.module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.encoder_k.steps.fill_(10**9)  # the update below barely moves it
    model.encoder_k.momentum = 1e-12
    torch.manual_seed(0)
    after = model.encode_key(views[1]).global_proj
    assert not torch.allclose(before, after)


def test_queues_take_the_keys():
    model = build(DENSECL)
    views = _views(n=4)
    model.loss(views, None)
    assert int(model.global_queue.ptr) == 4
    assert int(model.dense_queue.ptr) == 4
    torch.manual_seed(5)
    keys = model.encode_key(views[1])
    # encode_key updated the EMA once more; with equal weights that is a copy.
    torch.testing.assert_close(model.global_queue.feats[:, :4].t(),
                               keys.global_proj, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.dense_queue.feats[:, :4].t(),
                               keys.dense_pooled, rtol=1e-4, atol=1e-5)


def test_deterministic_for_a_seed():
    results = []
    for _ in range(2):
        torch.manual_seed(7)
        model = build(DENSECL)
        torch.manual_seed(8)
        losses = model.loss(_views(), None)
        results.append(torch.stack([losses['loss_single'],
                                    losses['loss_dense']]))
    assert torch.equal(results[0], results[1])


def test_overfit_fixed_batch_lowers_both_losses():
    """On one fixed batch against a fixed bank of negatives, both losses go
    down. (The queues are restored after each step: otherwise they fill with
    keys of these same images, which makes the task harder, not easier.)"""
    torch.manual_seed(3)
    model = build(DENSECL, queue_len=64)
    queues = {k: v.clone() for k, v in model.state_dict().items()
              if 'queue' in k}
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                            lr=0.05, momentum=0.9)
    views = _views(n=8, size=64)
    history = []
    for _ in range(20):
        losses = model.loss(views, None)
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
        model.load_state_dict(queues, strict=False)
        history.append({k: float(v) for k, v in losses.items()})
    for key in ('loss_single', 'loss_dense'):
        first = sum(h[key] for h in history[:3]) / 3
        last = sum(h[key] for h in history[-3:]) / 3
        assert last < 0.8 * first, (key, first, last)


def test_tensor_mode_returns_backbone_features():
    model = build(DENSECL)
    feats = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert feats[-1].shape == (2, 512, 2, 2)


def test_match_on_neck_runs():
    model = build(DENSECL, match_on='neck')
    losses = model.loss(_views(), None)
    assert torch.isfinite(losses['loss_dense'])
    with pytest.raises(ValueError, match="match_on must be 'backbone' or"):
        build(DENSECL, match_on='pixels')
