"""DSC's cross-image terms on two gloo processes equal one process on the
same global batch, on fixed embeddings (so no per-process batch norm can
differ): the semantic classes are computed from the gathered key pixels of
all images, and each process's query pixels point into that global batch."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_distributed import PER_RANK, WORLD, _free_port, _init
from test_dsc import DSC, KMEANS_HEAD, PROTO_HEAD, _embeddings

from model_builders import build

from dense_contrast.models.algorithms.dsc import SemanticViewEmbeddings

HEADS = dict(km=KMEANS_HEAD, pm=PROTO_HEAD)


def _step(model, query, key):
    """Losses and the prototypes' gradient on some embeddings."""
    query = type(query)(*[t.clone().requires_grad_() for t in query])
    losses = model.contrast(query, key)
    sum(losses.values()).backward()
    grad = getattr(model.semantic_head, 'prototypes', None)
    return dict(losses={k: v.detach() for k, v in losses.items()},
                grad=None if grad is None else grad.grad.clone())


def _slice(view, rank):
    return type(view)(*[t[rank * PER_RANK:(rank + 1) * PER_RANK]
                        for t in view])


def _worker(rank, port, tmpdir):
    _init(rank, port)
    data = torch.load(os.path.join(tmpdir, 'data.pth'))
    out = {}
    for name, head in HEADS.items():
        model = build(DSC, semantic_head=head)
        model.load_state_dict(data[name])
        # Saved as plain tuples: torch.load(weights_only) takes no classes.
        res = _step(
            model, _slice(SemanticViewEmbeddings(*data['query']), rank),
            _slice(SemanticViewEmbeddings(*data['key']), rank))
        for v in res['losses'].values():  # mean of per-process means
            dist.all_reduce(v)
            v /= WORLD
        if res['grad'] is not None:  # what DDP does with gradients
            dist.all_reduce(res['grad'])
            res['grad'] /= WORLD
        out[name] = res
    torch.save(out, os.path.join(tmpdir, f'rank{rank}.pth'))
    dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_processes_equal_one_process(tmp_path):
    g = torch.Generator().manual_seed(9)
    query = _embeddings(WORLD * PER_RANK, 6, 4, g)
    key = _embeddings(WORLD * PER_RANK, 6, 4, g)
    data = dict(query=tuple(query), key=tuple(key))
    single = {}
    for name, head in HEADS.items():
        model = build(DSC, semantic_head=head)
        data[name] = model.state_dict()
        single[name] = _step(model, query, key)
    torch.save(data, tmp_path / 'data.pth')
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD,
             join=True)
    for rank in range(WORLD):
        multi = torch.load(tmp_path / f'rank{rank}.pth')
        for name in HEADS:
            ref, got = single[name], multi[name]
            assert set(got['losses']) == set(ref['losses'])
            for term, value in ref['losses'].items():
                torch.testing.assert_close(got['losses'][term], value,
                                           msg=f'{name} {term} rank {rank}')
            if ref['grad'] is not None:
                torch.testing.assert_close(got['grad'], ref['grad'],
                                           msg=f'{name} prototypes grad')
