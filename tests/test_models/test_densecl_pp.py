"""DenseCL++: DenseCL parity with the parts off, slow loop references for
each new term, the weighting of the dense terms, gradients, queues,
overfitting and backbone extraction."""
import itertools
import math

import pytest
import torch
from model_builders import DENSECL, FEAT_DIM, build

from dense_contrast.models.algorithms.base_dense_contrast import \
    ViewEmbeddings

DENSECL_PP = dict(
    DENSECL,
    type='DenseCLPP',
    head=dict(type='MaskedInfoNCEHead', temperature=0.2),
    num_dense_negatives=16,
    dense_queue_len=64,
    rec_head=dict(
        type='ImageReconstructionHead', in_channels=512, channels=(8, 4)))
ALL_PARTS = dict(dense_negatives='all', cross_view=True, reconstruction=True)
TAU = 0.2
WEIGHTINGS = ('replace', 'shared', 'additive')


def _views(n: int = 4, size: int = 64, seed: int = 123):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, size, size, generator=g) for _ in range(2)]


def _embeddings(n=3, c=5, d=FEAT_DIM, s=4, seed=0) -> ViewEmbeddings:
    """Random unit-norm embeddings of one view (double precision)."""
    g = torch.Generator().manual_seed(seed)

    def unit(*shape, dim=1):
        return torch.nn.functional.normalize(
            torch.randn(*shape, generator=g, dtype=torch.float64), dim=dim)

    return ViewEmbeddings(unit(n, c, s), unit(n, d), unit(n, d, s),
                          unit(n, d))


def _info_nce(u, positive, negatives):
    """-log softmax of the positive among [positive, negatives], one row."""
    logits = [float(u @ positive) / TAU] + [float(u @ x) / TAU
                                            for x in negatives]
    top = max(logits)
    return -(logits[0] - top) + math.log(
        sum(math.exp(v - top) for v in logits))


def _slow_dense(query, key, banks, positive_view, same_image_negatives):
    """Loop reference of a dense term with negatives from other images.

    ``banks`` maps a view id to dense vectors (N, D, S) of that view."""
    n_img, _, grid = query.dense_proj.shape
    total = 0.0
    for n in range(n_img):
        for s in range(grid):
            sims = [float(query.backbone_feats[n, :, s] @
                          key.backbone_feats[n, :, j]) for j in range(grid)]
            j_star = max(range(grid), key=lambda j: sims[j])
            negatives = []
            for view, dense in banks.items():
                for m in range(n_img):
                    for t in range(grid):
                        admitted = (same_image_negatives
                                    and view == positive_view
                                    and t != j_star)
                        if m != n or admitted:
                            negatives.append(dense[m, :, t])
            total += _info_nce(query.dense_proj[n, :, s],
                               key.dense_proj[n, :, j_star], negatives)
    return total / (n_img * grid)


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize('weighting', ['replace', 'shared'])
def test_all_parts_off_equals_densecl(weighting):
    """Same weights, views and seed: DenseCL's losses and gradients."""
    densecl = build(DENSECL)
    ours = build(DENSECL_PP, dense_weighting=weighting)
    ours.load_state_dict(densecl.state_dict(), strict=True)
    views = _views()
    results = []
    for model in (densecl, ours):
        torch.manual_seed(5)  # same batch-shuffle permutation
        losses = model.loss([v.clone() for v in views], None)
        sum(losses.values()).backward()
        results.append(losses)
    assert set(results[1]) == {'loss_single', 'loss_dense'}
    for key in ('loss_single', 'loss_dense'):
        torch.testing.assert_close(results[1][key], results[0][key])
    ours_params = dict(ours.named_parameters())
    for name, p in densecl.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(ours_params[name].grad, p.grad,
                                       msg=name)
    torch.testing.assert_close(ours.dense_queue.feats,
                               densecl.dense_queue.feats)


# ------------------------------------------------ weighting of dense terms
def test_dense_weights_total_is_lambda_unless_additive():
    """Every combination of parts: 'replace' and 'shared' keep the dense
    terms' total at loss_lambda; 'additive' adds the parts' own weights."""
    lam, neg_w, xview_w = 0.4, 0.3, 0.7
    for weighting in WEIGHTINGS:
        model = build(DENSECL_PP, dense_weighting=weighting, loss_lambda=lam,
                      dense_neg_weight=neg_w, xview_weight=xview_w)
        for negatives, cross_view in itertools.product(
                (None, 'all', 'random_k', 'queue'), (False, True)):
            model.dense_negatives, model.cross_view = negatives, cross_view
            weights = model.dense_weights()
            expected_terms = {'loss_dense'}
            if weighting != 'replace' and negatives is not None:
                expected_terms.add('loss_dense_neg')
            if cross_view:
                expected_terms.add('loss_dense_xview')
            assert set(weights) == expected_terms, (weighting, negatives)
            expected_total = lam
            if weighting == 'additive':
                expected_total += (neg_w * (negatives is not None) +
                                   xview_w * cross_view)
            assert sum(weights.values()) == pytest.approx(expected_total), (
                weighting, negatives, cross_view)
            if weighting == 'shared':
                assert len(set(weights.values())) == 1


def test_replace_swaps_the_negatives_of_densecls_term():
    """'replace' computes the same dense terms as 'additive', but in place
    of DenseCL's term: (i) is the dense term with dense negatives, (ii)'s
    reverse direction is the additive cross-view term."""
    state = build(DENSECL_PP).double().state_dict()

    def run(**overrides):
        model = build(DENSECL_PP, **overrides).double()
        model.load_state_dict(state, strict=True)
        torch.manual_seed(7)
        losses = model.loss([v.double() for v in _views(n=3)], None)
        weights = model.dense_weights()
        return {k: float(v.detach()) / weights[k] for k, v in losses.items()
                if k in weights}

    replaced = run(dense_negatives='all')
    added = run(dense_negatives='all', dense_weighting='additive')
    assert set(replaced) == {'loss_dense'}
    assert replaced['loss_dense'] == pytest.approx(added['loss_dense_neg'],
                                                   rel=1e-9)
    assert replaced['loss_dense'] != pytest.approx(added['loss_dense'],
                                                   rel=1e-3)
    replaced = run(cross_view=True)
    added = run(cross_view=True, dense_weighting='additive')
    for key in ('loss_dense', 'loss_dense_xview'):
        assert replaced[key] == pytest.approx(added[key], rel=1e-9), key


def test_same_image_negatives_with_pooled_negatives_equal_loop():
    """With pooled (queued) negatives, ``same_image_negatives`` adds the
    non-matched locations of the positive's view of the query's image."""
    model = build(DENSECL_PP, same_image_negatives=True).double()
    queue = model.dense_queue.feats  # D, K
    query, key = _embeddings(seed=13), _embeddings(seed=14)
    loss = model._dense_loss(query, key, 'pooled', {}, 1, None)
    n_img, _, grid = query.dense_proj.shape
    total = 0.0
    for n in range(n_img):
        for s in range(grid):
            sims = query.backbone_feats[n, :, s] @ key.backbone_feats[n]
            j_star = int(sims.argmax())
            negatives = [queue[:, k] for k in range(queue.shape[1])]
            negatives += [key.dense_proj[n, :, t] for t in range(grid)
                          if t != j_star]
            total += _info_nce(query.dense_proj[n, :, s],
                               key.dense_proj[n, :, j_star], negatives)
    assert loss.item() == pytest.approx(total / (n_img * grid), rel=1e-9)
    model.same_image_negatives = False
    assert model._dense_loss(query, key, 'pooled', {}, 1,
                             None).item() != pytest.approx(loss.item())


# ------------------------------------------------- slow references per term
@pytest.mark.parametrize('same_image_negatives', [False, True])
def test_dense_negatives_across_images_equal_loop(same_image_negatives):
    """Part (i), 'all': negatives are every location of the other images."""
    model = build(DENSECL_PP, dense_negatives='all',
                  same_image_negatives=same_image_negatives).double()
    query, key = _embeddings(seed=1), _embeddings(seed=2)
    loss = model._dense_loss(query, key, 'all', {1: key}, 1, None)
    expected = _slow_dense(query, key, {1: key.dense_proj}, 1,
                           same_image_negatives)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize('same_image_negatives', [False, True])
def test_cross_view_term_equals_loop(same_image_negatives):
    """Part (ii): view-2 queries against matched view-1 keys, negatives from
    both views of the other images."""
    model = build(DENSECL_PP, dense_negatives='all', cross_view=True,
                  same_image_negatives=same_image_negatives).double()
    q2, k1, k2 = (_embeddings(seed=i) for i in (3, 4, 5))
    loss = model._dense_loss(q2, k1, 'all', {0: k1, 1: k2}, 0, None)
    expected = _slow_dense(q2, k1, {0: k1.dense_proj, 1: k2.dense_proj}, 0,
                           same_image_negatives)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_random_k_samples_rows_of_the_full_bank():
    model = build(DENSECL_PP, dense_negatives='random_k',
                  num_dense_negatives=7).double()
    k1, k2 = _embeddings(seed=6), _embeddings(seed=7)
    bank = model.dense_bank([k1.dense_proj, k2.dense_proj], [0, 1],
                            'random_k')
    assert bank.feats.shape == (7, FEAT_DIM)
    dense = torch.stack([k1.dense_proj, k2.dense_proj])  # V, N, D, S
    torch.testing.assert_close(
        bank.feats, dense[bank.view, bank.image, :, bank.location])
    full = model.dense_bank([k1.dense_proj, k2.dense_proj], [0, 1], 'all')
    assert full.feats.shape == (2 * 3 * 4, FEAT_DIM)
    # K at least the bank: random_k is 'all'.
    model.num_dense_negatives = 10**6
    q = _embeddings(seed=8)
    torch.testing.assert_close(
        model._dense_loss(q, k2, 'random_k', {0: k1, 1: k2}, 1, None),
        model._dense_loss(q, k2, 'all', {0: k1, 1: k2}, 1, None))


def test_simclr_global_loss_is_nt_xent():
    """Symmetric NT-Xent: each view's query against the other view, all
    other images of both views as negatives."""
    model = build(DENSECL_PP, framework='simclr').double()
    q1, q2 = _embeddings(seed=9), _embeddings(seed=10)
    loss = model._global_loss(dict(q1=q1, q2=q2, k2=q2))
    z = [q1.global_proj, q2.global_proj]
    total = 0.0
    for v in range(2):
        for n in range(3):
            negatives = [z[w][m] for w in range(2) for m in range(3)
                         if m != n]
            total += _info_nce(z[v][n], z[1 - v][n], negatives)
    assert loss.item() == pytest.approx(total / 6, rel=1e-9)


def test_simclr_dense_term_uses_pooled_in_batch_negatives():
    model = build(DENSECL_PP, framework='simclr').double()
    q1, q2 = _embeddings(seed=11), _embeddings(seed=12)
    pooled = model._pooled_bank(q1, q2)
    loss = model._dense_loss(q1, q2, 'pooled', {}, 1, pooled)
    total = 0.0
    for n in range(3):
        negatives = [q.dense_pooled[m] for m in range(3) if m != n
                     for q in (q1, q2)]
        for s in range(4):
            sims = q1.backbone_feats[n, :, s] @ q2.backbone_feats[n]
            j = int(sims.argmax())
            total += _info_nce(q1.dense_proj[n, :, s], q2.dense_proj[n, :, j],
                               negatives)
    assert loss.item() == pytest.approx(total / 12, rel=1e-9)


def test_reconstruction_loss_equals_loop():
    model = build(DENSECL_PP, reconstruction=True)
    head = model.rec_head.eval()
    feat = torch.randn(2, 512, 2, 2)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pred = head(feat)
    assert pred.shape == (2, 3, 8, 8)
    total = 0.0
    for n in range(2):
        for c in range(3):
            for y in range(8):
                for x in range(8):
                    target = images[n, c, 4 * y:4 * y + 4,
                                    4 * x:4 * x + 4].mean()
                    total += float(pred[n, c, y, x] - target)**2
    assert head.loss(feat, images).item() == pytest.approx(
        total / pred.numel(), rel=1e-5)


# --------------------------------------------------------------- training
@pytest.mark.parametrize('framework,weighting', [('moco', 'additive'),
                                                  ('simclr', 'replace')])
def test_gradients_reach_the_backbone(framework, weighting):
    model = build(DENSECL_PP, framework=framework, dense_weighting=weighting,
                  **ALL_PARTS)
    losses = model.loss(_views(), None)
    assert set(losses) == {'loss_single', 'loss_rec', *model.dense_weights()}
    assert len(losses) == (5 if weighting == 'additive' else 4)
    for key, value in losses.items():
        model.zero_grad()
        value.backward(retain_graph=True)
        grad = model.backbone.conv1.weight.grad
        assert grad is not None and grad.abs().sum() > 0, key
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if name.startswith('encoder_k'):
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert (model.encoder_k is None) == (framework == 'simclr')


def test_dense_vector_queue_takes_single_locations():
    model = build(DENSECL_PP, dense_negatives='queue',
                  dense_enqueue_per_image=2, dense_weighting='additive')
    views = _views(n=4)
    losses = model.loss(views, None)
    assert 'loss_dense_neg' in losses
    assert int(model.dense_vector_queue.ptr) == 4 * 2
    torch.manual_seed(0)
    keys = model.encode_key(views[1]).dense_proj  # N, D, S
    pushed = model.dense_vector_queue.feats[:, :8].t().view(4, 2, -1)
    # Every pushed vector is one location of the same image's key.
    sims = torch.einsum('npd,nds->nps', pushed, keys)
    assert torch.allclose(sims.max(dim=2).values, torch.ones(4, 2),
                          atol=1e-3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='framework must be one of'):
        build(DENSECL_PP, framework='byol')
    with pytest.raises(ValueError, match='dense_negatives must be None'):
        build(DENSECL_PP, dense_negatives='some')
    with pytest.raises(ValueError, match="'queue' needs framework='moco'"):
        build(DENSECL_PP, framework='simclr', dense_negatives='queue')
    with pytest.raises(ValueError, match='needs a rec_head'):
        build(DENSECL_PP, reconstruction=True, rec_head=None)
    with pytest.raises(ValueError, match="dense_weighting must be one of"):
        build(DENSECL_PP, dense_weighting='sum')
    model = build(DENSECL_PP)
    with pytest.raises(ValueError, match='two views of the same shape'):
        model.loss([torch.randn(2, 3, 64, 64)], None)


@pytest.mark.parametrize('framework', ['moco', 'simclr'])
def test_overfit_fixed_batch_lowers_every_term(framework):
    """A fixed batch and (for MoCo) queues restored after each step, as in
    the DenseCL test: every term goes down."""
    torch.manual_seed(3)
    model = build(DENSECL_PP, framework=framework, queue_len=64,
                  **ALL_PARTS)
    queues = {k: v.clone() for k, v in model.state_dict().items()
              if 'queue' in k}
    optim = torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                            lr=0.05, momentum=0.9)
    # Images with their own mean colour (pure noise images have nearly equal
    # pooled features); the second view is a noisy copy of the first.
    first_view = torch.randn(4, 3, 1, 1) + 0.5 * _views(n=4, size=64)[0]
    views = [first_view, first_view + 0.3 * torch.randn_like(first_view)]
    history = []
    for _ in range(10):
        losses = model.loss(views, None)
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
        model.load_state_dict(queues, strict=False)
        history.append({k: float(v) for k, v in losses.items()})
    for key in history[0]:
        first = sum(h[key] for h in history[:2]) / 2
        last = sum(h[key] for h in history[-2:]) / 2
        assert last < 0.9 * first, (key, first, last)


# --------------------------------------------------------------- transfer
def test_extract_drops_the_reconstruction_head(tmp_path):
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.registry import DefaultScope

    from dense_contrast.utils.extract import extract_backbone_weights
    model = build(DENSECL_PP, **ALL_PARTS)
    assert any(k.startswith('rec_head.') for k in model.state_dict())
    torch.save(model.state_dict(), tmp_path / 'pretrain.pth')
    extract_backbone_weights(
        str(tmp_path / 'pretrain.pth'), str(tmp_path / 'backbone.pth'))
    extracted = torch.load(tmp_path / 'backbone.pth', weights_only=True)
    assert set(extracted['state_dict']) == set(model.backbone.state_dict())
    with DefaultScope.overwrite_default_scope('mmdet'):
        resnet = MMDET_MODELS.build(
            dict(type='ResNet', depth=18, init_cfg=dict(
                type='Pretrained', checkpoint=str(tmp_path / 'backbone.pth'))))
        resnet.init_weights()
    for name, value in resnet.state_dict().items():
        assert torch.equal(value, model.backbone.state_dict()[name]), name
