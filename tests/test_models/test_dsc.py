"""DSC (issue 3): clustering, neighbours, each loss term against a loop
reference, the DenseCL special case, and a short overfit."""
import itertools
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from model_builders import DENSECL, FEAT_DIM, build

from dense_contrast.models.algorithms.dsc import SemanticViewEmbeddings
from dense_contrast.models.utils import (cosine_kmeans, discover_neighbours,
                                         lloyd_step, sinkhorn_knopp)

KMEANS_HEAD = dict(type='KMeansSemanticHead', num_clusters=3, num_iters=5,
                   seed=0, temperature=0.1)
PROTO_HEAD = dict(type='PrototypeSemanticHead', num_prototypes=3,
                  feat_dim=FEAT_DIM, temperature=0.1, sinkhorn_epsilon=0.05,
                  sinkhorn_iters=3)
DSC = dict(
    DENSECL,
    type='DSC',
    loss_weights=dict(single=0.5, dense=0.25, neighbour=0.25, semantic=0.5),
    num_neighbours=2,
    neck=dict(DENSECL['neck'], type='DenseSemanticNeck'),
    semantic_head=KMEANS_HEAD)
DSC.pop('loss_lambda')


def _unit(*shape, dim=1, generator=None):
    return F.normalize(torch.randn(*shape, generator=generator), dim=dim)


# --------------------------------------------------------------- clustering
def test_kmeans_recovers_planted_clusters():
    g = torch.Generator().manual_seed(1)
    centres = torch.eye(16)[:5] * 3  # 5 orthogonal directions
    truth = torch.arange(5).repeat_interleave(40)
    points = F.normalize(
        centres[truth] + 0.3 * torch.randn(200, 16, generator=g), dim=1)
    perm = torch.randperm(200, generator=g)
    points, truth = points[perm], truth[perm]
    result = cosine_kmeans(points, 5, num_iters=10, seed=3)
    # Same partition up to renaming: each planted cluster is one label and
    # the five labels are distinct.
    mapping = {int(t): set(result.labels[truth == t].tolist())
               for t in range(5)}
    assert all(len(v) == 1 for v in mapping.values()), mapping
    assert len(set.union(*mapping.values())) == 5
    torch.testing.assert_close(result.centroids.norm(dim=1), torch.ones(5))
    # Deterministic given the seed, and the global RNG is not consumed.
    state = torch.get_rng_state()
    again = cosine_kmeans(points, 5, num_iters=10, seed=3)
    assert torch.equal(again.labels, result.labels)
    assert torch.equal(torch.get_rng_state(), state)


def test_lloyd_step_equals_loop():
    points = _unit(30, 4)
    centroids = _unit(5, 4)
    centroids[4] = -points.mean(0) / points.mean(0).norm()  # likely empty
    labels, updated = lloyd_step(points, centroids)
    for p in range(30):
        sims = [float(points[p] @ centroids[k]) for k in range(5)]
        assert labels[p] == max(range(5), key=lambda k: sims[k])
    for k in range(5):
        members = [points[p] for p in range(30) if labels[p] == k]
        expected = (F.normalize(sum(members), dim=0)
                    if members else centroids[k])
        torch.testing.assert_close(updated[k], expected)


def test_kmeans_rejects_too_many_clusters():
    with pytest.raises(ValueError, match='num_clusters=9'):
        cosine_kmeans(_unit(8, 4), 9)


def test_sinkhorn_respects_equal_partition():
    scores = _unit(60, 8) @ _unit(6, 8).t() + torch.linspace(0, 1, 6)
    codes = sinkhorn_knopp(scores, epsilon=0.05, num_iters=100)
    torch.testing.assert_close(codes.sum(1), torch.ones(60))
    torch.testing.assert_close(codes.sum(0), torch.full((6, ), 10.),
                               rtol=1e-3, atol=1e-3)
    # A plain softmax piles the points on the favoured prototypes; three
    # rounds already spread them much more evenly.
    softmax_spread = torch.softmax(scores / 0.05, 1).sum(0).std()
    three = sinkhorn_knopp(scores, epsilon=0.05, num_iters=3)
    torch.testing.assert_close(three.sum(1), torch.ones(60))
    assert three.sum(0).std() < 0.5 * softmax_spread


def test_sinkhorn_equals_loop():
    scores = torch.randn(7, 3)
    q = [[math.exp(float(scores[p, k]) / 0.5) for k in range(3)]
         for p in range(7)]
    total = sum(map(sum, q))
    q = [[v / total for v in row] for row in q]
    for _ in range(2):
        cols = [sum(q[p][k] for p in range(7)) for k in range(3)]
        q = [[q[p][k] / cols[k] / 3 for k in range(3)] for p in range(7)]
        rows = [sum(q[p]) for p in range(7)]
        q = [[q[p][k] / rows[p] / 7 for k in range(3)] for p in range(7)]
    expected = torch.tensor(q) * 7
    torch.testing.assert_close(
        sinkhorn_knopp(scores, epsilon=0.5, num_iters=2), expected)


# --------------------------------------------------------------- neighbours
def test_discover_neighbours_on_constructed_maps():
    # Key locations are the 4 axes; query location s has similarity
    # decreasing in the order given by `orders[s]`.
    keys = torch.eye(4).unsqueeze(0)  # 1, C=4, S'=4
    orders = [[2, 0, 3, 1], [1, 3, 0, 2], [0, 1, 2, 3]]
    query = torch.zeros(1, 4, 3)
    for s, order in enumerate(orders):
        for rank, j in enumerate(order):
            query[0, j, s] = [0.8, 0.5, 0.3, 0.1][rank]
    query = F.normalize(query, dim=1)
    found = discover_neighbours(query, keys, num_neighbours=3)
    assert found.index.tolist() == [[o[:3] for o in orders]]
    assert found.valid.all()
    sims = torch.tensor([0.8, 0.5, 0.3]) / torch.tensor(
        [0.8, 0.5, 0.3, 0.1]).norm()
    thr = float(sims[1]) - 1e-4  # keeps the 2nd, drops the 3rd
    found = discover_neighbours(query, keys, 3, sim_thr=thr)
    assert found.valid.tolist() == [[[True, True, False]] * 3]
    # The best match is kept whatever the threshold.
    found = discover_neighbours(query, keys, 2, sim_thr=2.0)
    assert found.valid.tolist() == [[[True, False]] * 3]
    with pytest.raises(ValueError, match='num_neighbours=5'):
        discover_neighbours(query, keys, 5)


# ------------------------------------------------- loss terms vs references
def _embeddings(n, c, s, generator):
    return SemanticViewEmbeddings(
        backbone_feats=_unit(n, c, s, generator=generator),
        global_proj=_unit(n, FEAT_DIM, generator=generator),
        dense_proj=_unit(n, FEAT_DIM, s, generator=generator),
        dense_pooled=_unit(n, FEAT_DIM, generator=generator),
        semantic_proj=_unit(n, FEAT_DIM, s, generator=generator))


def _log_softmax_first(logits):
    """-log softmax(logits)[0] for a Python list."""
    top = max(logits)
    return -(logits[0] - top - math.log(sum(
        math.exp(v - top) for v in logits)))


def _reference_terms(model, queries, keys, pairs):
    """Slow loops over view pairs, images and pixels for every DSC term
    (unweighted). The classes come from the key pixels of every key view of
    ``pairs``, view by view, image by image."""
    tau = model.head.temperature
    gq = model.global_queue.feats
    dq = model.dense_queue.feats
    n_img, _, n_loc = next(iter(queries.values())).dense_proj.shape
    single, dense, neigh, sem = [], [], [], []
    head = model.semantic_head
    key_views = sorted({j for _, j in pairs})
    points = [keys[v].semantic_proj[n, :, j] for v in key_views
              for n in range(n_img) for j in range(n_loc)]
    points = torch.stack(points)
    if hasattr(head, 'num_clusters'):
        clusters = cosine_kmeans(points, head.num_clusters, head.num_iters,
                                 head.seed)
    else:
        protos = F.normalize(head.prototypes.detach(), dim=1)
        codes = sinkhorn_knopp(points @ protos.t(), head.sinkhorn_epsilon,
                               head.sinkhorn_iters)
    for (qv, kv), n in itertools.product(pairs, range(n_img)):
        q, k = queries[qv], keys[kv]
        logits = [float(q.global_proj[n] @ k.global_proj[n]) / tau] + [
            float(q.global_proj[n] @ gq[:, i]) / tau
            for i in range(gq.shape[1])
        ]
        single.append(_log_softmax_first(logits))
        for s in range(n_loc):
            r = q.dense_proj[n, :, s]
            sims = [float(q.backbone_feats[n, :, s] @ k.backbone_feats[n, :, j])
                    for j in range(n_loc)]
            order = sorted(range(n_loc), key=lambda j: -sims[j])
            negs = [float(r @ dq[:, i]) / tau for i in range(dq.shape[1])]
            pos = [float(r @ k.dense_proj[n, :, j]) / tau for j in order]
            dense.append(_log_softmax_first([pos[0]] + negs))
            kept = pos[:model.num_neighbours]
            denom = math.log(sum(math.exp(v) for v in kept + negs))
            neigh.append(sum(denom - v for v in kept) / len(kept))
            target = (key_views.index(kv) * n_img + n) * n_loc + order[0]
            z = q.semantic_proj[n, :, s]
            if hasattr(head, 'num_clusters'):
                cls = [float(z @ c) / head.temperature
                       for c in clusters.centroids]
                label = int(clusters.labels[target])
                sem.append(_log_softmax_first([cls[label]] + cls[:label] +
                                              cls[label + 1:]))
            else:
                logits = [float(z @ w) / head.temperature for w in protos]
                top = max(logits)
                lse = top + math.log(sum(math.exp(v - top) for v in logits))
                sem.append(-sum(float(codes[target, j]) * (logits[j] - lse)
                                for j in range(len(logits))))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return dict(single=mean(single), dense=mean(dense),
                neighbour=mean(neigh), semantic=mean(sem))


@pytest.mark.parametrize('semantic_head', [KMEANS_HEAD, PROTO_HEAD],
                         ids=['km', 'pm'])
def test_each_term_equals_loop_reference(semantic_head):
    model = build(DSC, semantic_head=semantic_head)
    g = torch.Generator().manual_seed(5)
    q, k = _embeddings(2, 6, 4, g), _embeddings(2, 6, 4, g)
    losses = model.contrast(q, k)
    expected = _reference_terms(model, {0: q}, {1: k}, [(0, 1)])
    assert set(losses) == {f'loss_{t}' for t in expected}
    for term, value in expected.items():
        weight = model.loss_weights[term]
        torch.testing.assert_close(
            losses[f'loss_{term}'].double(),
            torch.tensor(weight * value, dtype=torch.double), rtol=1e-5,
            atol=1e-6, msg=term)


@pytest.mark.parametrize('symmetric', [False, True], ids=['one-way', 'sym'])
@pytest.mark.parametrize('semantic_head', [KMEANS_HEAD, PROTO_HEAD],
                         ids=['km', 'pm'])
def test_three_views_average_every_pair(semantic_head, symmetric):
    """Each term is the mean over the view pairs; the classes are formed
    once over the key pixels of every key view."""
    model = build(DSC, semantic_head=semantic_head, symmetric=symmetric)
    pairs = model.view_pairs(3)
    g = torch.Generator().manual_seed(8)
    queries = {i: _embeddings(2, 6, 4, g) for i in range(3)}
    keys = {j: _embeddings(2, 6, 4, g) for j in range(3)}
    losses = model.contrast_views(queries, keys, pairs)
    expected = _reference_terms(model, queries, keys, pairs)
    assert set(losses) == {f'loss_{t}' for t in expected}
    for term, value in expected.items():
        torch.testing.assert_close(
            losses[f'loss_{term}'].double(),
            torch.tensor(model.loss_weights[term] * value,
                         dtype=torch.double), rtol=1e-5, atol=1e-6, msg=term)


def test_view_pairs():
    one_way, sym = build(DSC), build(DSC, symmetric=True)
    assert one_way.view_pairs(2) == [(0, 1)]
    assert one_way.view_pairs(3) == [(0, 1), (0, 2)]
    assert sym.view_pairs(2) == [(0, 1), (1, 0)]
    assert sym.view_pairs(3) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0),
                                 (2, 1)]
    with pytest.raises(ValueError, match='at least two views'):
        sym.view_pairs(1)
    with pytest.raises(ValueError, match=r'\[2, 3\] images'):
        one_way.loss([torch.randn(2, 3, 64, 64),
                      torch.randn(3, 3, 64, 64)], None)


@pytest.mark.parametrize('num_views', [2, 3])
def test_symmetric_step_updates_momentum_once_and_queues_view_one(num_views):
    """Several key views: one momentum update a step, one key per image
    into each queue (view 1's), gradients to every online parameter."""
    reference = build(DSC, symmetric=True)
    model = build(DSC, symmetric=True)
    model.load_state_dict(reference.state_dict())
    g = torch.Generator().manual_seed(3)
    views = [torch.randn(2, 3, 64, 64, generator=g) for _ in range(num_views)]
    losses = model.loss(views, None)
    assert set(losses) == {'loss_single', 'loss_dense', 'loss_neighbour',
                           'loss_semantic'}
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        if name.startswith('encoder_k'):
            assert param.grad is None, name
        else:
            assert param.grad is not None and param.grad.abs().sum() > 0, \
                name
    # One update: m * old + (1 - m) * online, the online weights unchanged.
    reference.encoder_k.update_parameters(
        torch.nn.Sequential(reference.backbone, reference.neck))
    for (name, ours), theirs in zip(
            model.encoder_k.module.named_parameters(),
            reference.encoder_k.module.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0, msg=name)
    assert int(model.global_queue.ptr) == int(model.dense_queue.ptr) == 2
    # The pushed global keys are view 1's (batch norm in train mode, the
    # same two images; the shuffle permutes them).
    with torch.no_grad():
        backbone_k, neck_k = model.encoder_k.module
        expected = model.embed(backbone_k, neck_k, views[1]).global_proj
    torch.testing.assert_close(model.global_queue.feats[:, :2].t(), expected,
                               rtol=1e-4, atol=1e-5)


def test_three_views_from_the_pipeline():
    """``MultiView num_views=3`` in a DSC config gives three views, and the
    symmetric model trains on them."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, init_default_scope

    from dense_contrast.apis.step_timing import make_batch
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(
        osp.join(root, 'configs', 'dsc',
                 'dsc-km_resnet18_1xb32-coslr-20e_toyscenes.py'))
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert pipeline[1].type == 'MultiView' and pipeline[1].num_views == 2
    cfg.merge_from_dict({
        'train_dataloader.dataset.pipeline.1.num_views': 3,
        'model.symmetric': True,
    })
    init_default_scope('dense_contrast')
    try:
        batch = make_batch(cfg, 2, 96, seed=0)
        assert len(batch['inputs']) == 3
        torch.manual_seed(0)
        from dense_contrast.registry import MODELS
        model = MODELS.build(cfg.model)
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
    finally:
        DefaultScope._instance_dict.pop(
            DefaultScope.get_current_instance().instance_name, None)
    assert set(losses) == {'loss_single', 'loss_dense', 'loss_neighbour',
                           'loss_semantic'}
    assert all(torch.isfinite(v) for v in losses.values())


def test_one_neighbour_equals_dense_term():
    model = build(DSC, num_neighbours=1)
    g = torch.Generator().manual_seed(6)
    q, k = _embeddings(2, 6, 4, g), _embeddings(2, 6, 4, g)
    losses = model.contrast(q, k)
    w = model.loss_weights
    torch.testing.assert_close(losses['loss_neighbour'] / w['neighbour'],
                               losses['loss_dense'] / w['dense'])


def test_bad_loss_weights_are_named():
    with pytest.raises(ValueError, match='semantics'):
        build(DSC, loss_weights=dict(semantics=1.0))
    with pytest.raises(ValueError, match='num_neighbours'):
        build(DSC, num_neighbours=0)


# --------------------------------------------------------- DenseCL special
# The statement of configs/dsc/README.md, as written: DSC equals DenseCL with
# loss_lambda = lambda when it is one-directional with two views,
# semantic = 0, single = 1 - lambda, and either dense = lambda with
# neighbour = 0, or dense + neighbour = lambda with a neighbour set that is
# only the best match (num_neighbours = 1, or a threshold above 1).
# Case: (lambda, loss_weights, other DSC arguments).
DENSECL_CASES = {
    'neighbour-off': (0.5, dict(single=0.5, dense=0.5, neighbour=0.0,
                                semantic=0.0), dict(num_neighbours=3)),
    'one-neighbour': (0.5, dict(single=0.5, dense=0.25, neighbour=0.25,
                                semantic=0.0), dict(num_neighbours=1)),
    'threshold': (0.5, dict(single=0.5, dense=0.25, neighbour=0.25,
                            semantic=0.0),
                  dict(num_neighbours=3, neighbour_sim_thr=1.01)),
    'lambda-0.3': (0.3, dict(single=0.7, dense=0.3, neighbour=0.0,
                             semantic=0.0), dict(num_neighbours=3)),
}
# Not such a case: the default pixel weights (dense 0.25, neighbour 0.25,
# k = 3) with the semantic term off, and the symmetric loss.
NOT_DENSECL_CASES = {
    'default-pixel-weights': (dict(semantic=0.0), False),
    'symmetric': (dict(single=0.5, dense=0.5, neighbour=0.0,
                       semantic=0.0), True),
}


def _densecl_and_dsc_step(loss_lambda, semantic_head=KMEANS_HEAD,
                          **dsc_args):
    """One step of DenseCL and of DSC from the same weights and views."""
    densecl = build(DENSECL, loss_lambda=loss_lambda)
    dsc = build(DSC, semantic_head=semantic_head, **dsc_args)
    missing, unexpected = dsc.load_state_dict(densecl.state_dict(),
                                              strict=False)
    assert not unexpected
    assert all('semantic' in name for name in missing), missing
    g = torch.Generator().manual_seed(7)
    views = [torch.randn(4, 3, 64, 64, generator=g) for _ in range(2)]
    results = []
    for model in (densecl, dsc):
        torch.manual_seed(11)  # same batch-shuffle permutation
        losses = model.loss([v.clone() for v in views], None)
        sum(losses.values()).backward()
        results.append(losses)
    return densecl, dsc, results[0], results[1]


@pytest.mark.parametrize('semantic_head', [KMEANS_HEAD, PROTO_HEAD],
                         ids=['km', 'pm'])
@pytest.mark.parametrize('case', list(DENSECL_CASES))
def test_densecl_special_case(case, semantic_head):
    loss_lambda, weights, dsc_args = DENSECL_CASES[case]
    densecl, dsc, theirs, ours = _densecl_and_dsc_step(
        loss_lambda, semantic_head, loss_weights=weights, **dsc_args)
    assert theirs.keys() == {'loss_single', 'loss_dense'}
    assert ours.keys() == {'loss_single', 'loss_dense'} | (
        {'loss_neighbour'} if weights['neighbour'] else set())
    pixel = ours['loss_dense'] + ours.get('loss_neighbour', 0)
    torch.testing.assert_close(ours['loss_single'], theirs['loss_single'],
                               rtol=1e-6, atol=0)
    torch.testing.assert_close(pixel, theirs['loss_dense'], rtol=1e-6,
                               atol=0)
    reference = dict(densecl.named_parameters())
    for name, param in dsc.named_parameters():
        if name in reference and reference[name].grad is not None:
            torch.testing.assert_close(param.grad, reference[name].grad,
                                       msg=name)
    torch.testing.assert_close(dsc.global_queue.feats,
                               densecl.global_queue.feats)
    torch.testing.assert_close(dsc.dense_queue.feats,
                               densecl.dense_queue.feats)


@pytest.mark.parametrize('case', list(NOT_DENSECL_CASES))
def test_not_a_densecl_special_case(case):
    weights, symmetric = NOT_DENSECL_CASES[case]
    _, _, theirs, ours = _densecl_and_dsc_step(
        0.5, loss_weights=weights, symmetric=symmetric)
    total = sum(ours.values())
    assert not torch.allclose(total, sum(theirs.values()), rtol=1e-3)


# ------------------------------------------------------- model-level checks
@pytest.mark.parametrize('semantic_head', [KMEANS_HEAD, PROTO_HEAD],
                         ids=['km', 'pm'])
def test_gradients_reach_online_branch_only(semantic_head):
    model = build(DSC, semantic_head=semantic_head)
    views = [torch.randn(2, 3, 64, 64) for _ in range(2)]
    losses = model.loss(views, None)
    assert set(losses) == {'loss_single', 'loss_dense', 'loss_neighbour',
                           'loss_semantic'}
    sum(losses.values()).backward()
    for name, param in model.named_parameters():
        if name.startswith('encoder_k'):
            assert param.grad is None, name
        else:
            assert param.grad is not None and param.grad.abs().sum() > 0, \
                name


@pytest.mark.parametrize('semantic_head', [KMEANS_HEAD, PROTO_HEAD],
                         ids=['km', 'pm'])
def test_assign_clusters(semantic_head):
    model = build(DSC, semantic_head=semantic_head)
    images = torch.randn(2, 3, 64, 64)
    stats = model.encoder_k.module[0].bn1.running_mean.clone()
    labels = model.assign_clusters(images)
    assert labels.shape == (2, 2, 2) and labels.dtype == torch.long
    assert 0 <= labels.min() and labels.max() < 3
    full = model.assign_clusters(images, out_size=(64, 64))
    assert full.shape == (2, 64, 64)
    assert torch.equal(full[:, ::32, ::32], labels)
    assert torch.equal(model.encoder_k.module[0].bn1.running_mean, stats)
    assert model.encoder_k.module.training


def test_prototypes_frozen_for_freeze_iters():
    model = build(DSC, semantic_head=dict(PROTO_HEAD, freeze_iters=1))
    views = [torch.randn(2, 3, 64, 64) for _ in range(2)]
    grads = []
    for _ in range(2):
        model.zero_grad()
        sum(model.loss(views, None).values()).backward()
        grads.append(model.semantic_head.prototypes.grad.abs().sum())
    assert grads[0] == 0 and grads[1] > 0
    assert int(model.semantic_head.steps) == 2


@pytest.mark.parametrize('semantic_head', [KMEANS_HEAD, PROTO_HEAD],
                         ids=['km', 'pm'])
def test_overfit_one_batch_lowers_every_term(semantic_head, tiny_toyscenes):
    import glob

    import numpy as np
    from PIL import Image
    root, _ = tiny_toyscenes
    files = sorted(glob.glob(f'{root}/train/images/*.png'))[:4]
    images = torch.stack([
        torch.from_numpy(np.array(Image.open(f).convert('RGB'))).permute(
            2, 0, 1).float() for f in files
    ])
    images = (images - 128) / 64
    views = [images, images.flip(3)]
    # A long queue: the few keys of this batch pushed meanwhile must not
    # turn the negatives into copies of the positives.
    model = build(DSC, semantic_head=semantic_head, momentum=0.9,
                  queue_len=4096)
    optim = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = []
    for _ in range(10):
        losses = model.loss(views, None)
        optim.zero_grad()
        sum(losses.values()).backward()
        optim.step()
        history.append({k: v.item() for k, v in losses.items()})
    for term in history[0]:
        first = sum(h[term] for h in history[:2]) / 2
        last = sum(h[term] for h in history[-2:]) / 2
        assert last < first, (term, [h[term] for h in history])
