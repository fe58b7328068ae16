"""MCL: the multi-level loss against a slow per-tile reference, gradient
reach, the momentum schedule and LARS exclusions."""
import copy
import math
import re

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub

import dense_contrast  # noqa: F401
from dense_contrast.models.algorithms.mcl import (MCL, _fpn_level,
                                                  _top_fpn_level,
                                                  cosine_momentum)
from dense_contrast.models.utils import MontageGeometryError
from dense_contrast.registry import MODELS

C, N, SIZE = 16, 4, 64  # FPN channels, views per batch, 64 px -> 2x2 windows
BN1D = dict(type='BN1d')
DEFAULT_ARGS = dict(
    type='MCL',
    base_momentum=0.99,
    view_indices=((0, 0, 1, 1), (2, 2, 3, 3)),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=8,
        stem_channels=8,
        out_indices=(0, 1, 2, 3)),
    neck=dict(
        type='mmdet.FPN',
        in_channels=[8, 16, 32, 64],
        out_channels=C,
        num_outs=4,
        norm_cfg=dict(type='BN')),
    region_neck=dict(
        type='RegionEmbeddingNeck',
        in_channels=C,
        hid_channels=32,
        out_channels=C,
        mlp_norm_cfg=BN1D),
    head=dict(
        type='MultiLevelContrastHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=C,
            hid_channels=32,
            out_channels=C,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False,
            norm_cfg=BN1D)),
    montage=dict(type='MontageBuilder', num_montages=(N, 2, 1, 1)),
)


def _build(**overrides) -> MCL:
    return MODELS.build({**copy.deepcopy(DEFAULT_ARGS), **overrides})


def _views(num=4):
    return [torch.randn(N, 3, SIZE, SIZE) for _ in range(num)]


@pytest.fixture(autouse=True)
def _max_iters():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 100)
    yield
    hub.update_info('max_iters', None)


def _reference_loss(model: MCL, views, seed: int) -> dict:
    """Slow MCL loss: canvases one by one, every tile's window cut by index,
    embedded and scored on its own (BN in eval mode, so per-item calls
    equal batched ones)."""
    torch.manual_seed(seed)
    branches = [
        model.build_branch([views[v] for v in idx])
        for idx in model.view_indices
    ]
    backbone_t, neck_t, region_t = model.target.module
    targets = []
    for branch in branches:
        rows = [
            region_t(neck_t(backbone_t(branch.images[i:i + 1]))[-1])
            for i in range(N)
        ]
        targets.append(F.normalize(torch.cat(rows), dim=1))
    totals = {}
    for branch, other in zip(branches, targets[::-1]):
        fpn = [
            model.neck(model.backbone(branch.images[i:i + 1]))
            for i in range(branch.images.shape[0])
        ]
        for level, ratio in enumerate(model.montage.ratios):
            stride = 32 // ratio
            j = model.fpn_strides.index(stride)
            win = SIZE // 32
            name = f'loss_p{int(math.log2(stride))}'
            terms = []
            for t, src in enumerate(branch.sources[level].tolist()):
                m, row, col = t // ratio**2, (t % ratio**2) // ratio, t % ratio
                feat = fpn[branch.starts[level] + m][j]
                window = feat[:, :, row * win:(row + 1) * win,
                              col * win:(col + 1) * win]
                z = model.head.predictors[level]((model.region_neck(window),
                                                  ))[0]
                z = F.normalize(z, dim=1)[0]
                logits = other @ z  # B
                terms.append(-torch.log_softmax(logits, 0)[src])
            weight = model.head.level_weights[level]
            value = 2 * 1.0 * weight * torch.stack(terms).mean()
            totals[name] = totals.get(name, 0) + value
    return totals


def test_loss_equals_slow_per_tile_reference():
    model = _build()
    views = _views()
    model.loss(views, None)  # one step: target = copy, BN buffers move
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        losses = model.loss(views, None)
        reference = _reference_loss(model, views, seed=1)
    assert set(reference) == {'loss_p5', 'loss_p4', 'loss_p3', 'loss_p2'}
    for key, value in reference.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('fpn_on_used_levels', [False, True])
def test_used_windows_only_gives_the_same_embeddings_in_eval_mode(
        fpn_on_used_levels):
    model = _build()
    views = _views()
    model.loss(views, None)
    model.eval()
    with torch.no_grad():
        torch.manual_seed(2)
        full = model.loss(views, None)
        model.head_on_used_windows = True
        model.fpn_on_used_levels = fpn_on_used_levels
        model.target_full_views_only = True
        torch.manual_seed(2)
        used = model.loss(views, None)
    for key in full:
        if key.startswith('loss'):
            torch.testing.assert_close(used[key], full[key])


def test_fpn_on_used_levels_trains_every_online_part():
    model = _build(head_on_used_windows=True, fpn_on_used_levels=True)
    losses = model.loss(_views(), None)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    # Every lateral and output convolution of the FPN is read by a level.
    for name, param in model.neck.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_loss_keys_values_and_chance_level():
    model = _build()
    losses = model.loss(_views(), None)
    names = ['p5', 'p4', 'p3', 'p2']
    assert set(losses) == {f'{k}_{n}'
                           for k in ('loss', 'pos_cos', 'neg_cos')
                           for n in names} | {'momentum'}
    # Near chance at init: 2 branches x 2 tau x w x log(N).
    torch.testing.assert_close(
        losses['loss_p5'], torch.tensor(2 * 2 * 0.5 * math.log(N)),
        rtol=0.1, atol=0)
    assert all(-1 <= losses[f'pos_cos_{n}'] <= 1 for n in names)


def test_gradients_reach_online_modules_and_not_the_target():
    model = _build()
    losses = model.loss(_views(), None)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for prefix in ('backbone.', 'neck.', 'region_neck.', 'head.'):
        params = [(n, p) for n, p in model.named_parameters()
                  if n.startswith(prefix)]
        assert params, prefix
        for name, param in params:
            assert param.grad is not None, name
    # The deepest layers of every part get a non-zero gradient.
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.neck.lateral_convs[0].conv.weight.grad.abs().sum() > 0
    assert model.region_neck.shared_convs[0].conv.weight.grad.abs().sum() > 0
    for param in model.target.parameters():
        assert not param.requires_grad and param.grad is None


def test_momentum_schedule_matches_formula_at_start_middle_end():
    hub = MessageHub.get_current_instance()
    for step, expected in ((1, None), (50, 0.995), (100, 1.0)):
        model = _build()
        hub.update_info('max_iters', 100)
        model.target.steps.fill_(step)
        target_before = [p.clone() for p in model.target.parameters()]
        with torch.no_grad():
            for p in model.backbone.parameters():
                p.add_(1.0)
        model.target.update_parameters(model._online_encoder())
        m = cosine_momentum(0.99, step, 100)
        if expected is not None:
            assert m == pytest.approx(expected)
        else:
            assert m == pytest.approx(1 - 0.01 * (math.cos(math.pi / 100) +
                                                  1) / 2)
        assert model.current_momentum() == pytest.approx(m)
        online = list(model._online_encoder().parameters())
        for before, after, src in zip(target_before,
                                      model.target.parameters(), online):
            torch.testing.assert_close(after, m * before + (1 - m) * src)
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)


def test_schedule_without_runner_raises_named_error():
    model = _build()
    model.loss(_views(), None)
    MessageHub.get_current_instance().update_info('max_iters', None)
    with pytest.raises(RuntimeError, match='max_iters'):
        model.loss(_views(), None)


def test_top_fpn_shortcut_equals_full_fpn():
    model = _build()
    feats = model.backbone(torch.randn(3, 3, SIZE, SIZE))
    torch.testing.assert_close(
        _top_fpn_level(model.neck, feats), model.neck(feats)[-1])


@pytest.mark.parametrize('upsample_cfg', [
    dict(mode='nearest'), dict(scale_factor=2, mode='nearest')])
def test_each_fpn_level_alone_equals_full_fpn(upsample_cfg):
    neck = {**DEFAULT_ARGS['neck'], 'upsample_cfg': upsample_cfg}
    model = _build(neck=neck)  # train mode: BN over the same batch
    feats = model.backbone(torch.randn(3, 3, SIZE, SIZE))
    full = model.neck(feats)
    for index in range(4):
        torch.testing.assert_close(
            _fpn_level(model.neck, feats, index), full[index])


def test_bad_inputs_and_configs_raise_named_errors():
    model = _build()
    with pytest.raises(ValueError, match='at least 4 view batches'):
        model.loss(_views(2), None)
    with pytest.raises(MontageGeometryError, match='multiples of window'):
        model.loss([torch.randn(N, 3, 48, 48) for _ in range(4)], None)
    with pytest.raises(ValueError, match='view_indices'):
        _build(view_indices=((0, 1), (2, 3)))
    with pytest.raises(ValueError, match='base_momentum'):
        _build(base_momentum=0.0)
    with pytest.raises(MontageGeometryError, match='FPN strides'):
        _build(fpn_strides=(8, 16, 32))
    with pytest.raises(ValueError, match='head_on_used_windows=True too'):
        _build(fpn_on_used_levels=True)
    with pytest.raises(ValueError, match='needs mmdet FPN'):
        _build(head_on_used_windows=True, fpn_on_used_levels=True,
               neck={**DEFAULT_ARGS['neck'], 'num_outs': 5})


# The authors' paramwise options (configs/selfsup/MCL/MCL.py of
# https://github.com/GuoQiushan/MCL), applied with re.search to their names.
AUTHORS_EXCLUDE = (r'(bn|gn)(\d+)?.(weight|bias)', 'bias')
# This project's module names -> the authors' (encoder_q = Sequential(ResNet,
# FPN, DetConvGpNonLinearHead); their MLPs are nn.Sequential of Linear, BN,
# ReLU, Linear[, BN]; predictors are NonLinearNeckV2, whose MLP is `mlp`).
TO_AUTHORS_NAMES = (
    (r'^backbone\.', 'encoder_q.0.'),
    (r'^neck\.', 'encoder_q.1.'),
    (r'^region_neck\.shared_convs\.', 'encoder_q.2.cls_convs.'),
    (r'^region_neck\.mlp\.', 'encoder_q.2.mlp.'),
    (r'^head\.predictors\.(\d+)\.', r'head.predictor.\1.mlp.'),
    (r'(mlp\.)fc0\.', r'\g<1>0.'),
    (r'(mlp\.)bn0\.', r'\g<1>1.'),
    (r'(mlp\.)fc1\.', r'\g<1>3.'),
    (r'(mlp\.)bn1\.', r'\g<1>4.'),
)


def _authors_name(name: str) -> str:
    for pattern, repl in TO_AUTHORS_NAMES:
        name = re.sub(pattern, repl, name)
    return name


def _lars_groups(config: str):
    """(name, lars_exclude, weight_decay, parameter) of every trainable
    parameter of the config's own model under its optim_wrapper."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('dense_contrast'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper.optimizer).__name__ == 'LARS'
    names = {id(p): n for n, p in model.named_parameters()}
    rows = [(names[id(param)], group.get('lars_exclude', False),
             group['weight_decay'], param)
            for group in wrapper.optimizer.param_groups
            for param in group['params']]
    assert len(rows) == sum(p.requires_grad for p in model.parameters())
    return rows


@pytest.mark.parametrize('config', [
    'configs/mcl/mcl_resnet50_32xb128-lars-coslr-100e_in1k.py',
    'configs/mcl/mcl_resnet18_1xb32-lars-coslr-20e_toyscenes.py'
])
def test_lars_exclusions_are_the_authors_expression(config):
    """Excluded from decay and adaptation: exactly what the authors'
    expressions select on their names of the same parameters."""
    rows = _lars_groups(config)
    translated = {_authors_name(name) for name, *_ in rows}
    assert len(translated) == len(rows)
    assert not any(n.startswith(('backbone.', 'neck.', 'region_neck.'))
                   for n in translated)
    for name, excluded, weight_decay, _ in rows:
        theirs = _authors_name(name)
        expected = any(re.search(e, theirs) for e in AUTHORS_EXCLUDE)
        assert excluded == expected, (name, theirs)
        assert (weight_decay == 0) == expected, name
    # The BN weights in nn.Sequential keep decay and adaptation there.
    kept = {re.sub(r'\d+', '#', n) for n, ex, _, p in rows
            if p.dim() == 1 and not ex}
    assert kept == {
        'backbone.layer#.#.downsample.#.weight', 'region_neck.mlp.bn#.weight',
        'head.predictors.#.bn#.weight'
    }


def test_lars_allbn_variant_excludes_every_norm_and_bias():
    """The broader option: every BN parameter and bias excluded, every conv
    and linear weight kept."""
    rows = _lars_groups(
        'configs/mcl/mcl_resnet50_32xb128-lars-allbn-coslr-100e_in1k.py')
    for name, excluded, weight_decay, param in rows:
        assert excluded == (param.dim() == 1), name
        assert (weight_decay == 0) == excluded, name


def test_overfit_fixed_batch_lowers_every_level_loss():
    """A few SGD steps on one fixed batch (views: one image each plus small
    noise, the same montage layout every step) lower the loss of every
    pyramid level."""
    torch.manual_seed(0)
    model = _build(base_momentum=0.9)
    images = torch.randn(N, 3, SIZE, SIZE)
    views = [images + 0.1 * torch.randn_like(images) for _ in range(4)]
    optim = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=0.2,
        momentum=0.9)
    history = []
    for _ in range(20):
        torch.manual_seed(1)  # the same montages every step
        losses = model.loss(views, None)
        optim.zero_grad()
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        optim.step()
        history.append({k: float(v) for k, v in losses.items()})
    for key in ('loss_p5', 'loss_p4', 'loss_p3', 'loss_p2'):
        first = sum(h[key] for h in history[:3]) / 3
        last = sum(h[key] for h in history[-3:]) / 3
        assert last < 0.85 * first, (key, first, last)
