"""Two CPU processes (gloo) against one process on the same global batch.

Batch norm is held in eval mode, so per-process batch statistics cannot
differ from the single-process ones; everything else (shuffled BN key
encoding, gathering keys into the queues, DDP-style gradient averaging) runs
the real multi-process code path.
"""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from model_builders import DENSECL, build

WORLD = 2
PER_RANK = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _init(rank: int, port: int) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=WORLD)


def _densecl_step(model, views):
    """One loss + backward; returns what the comparison needs."""
    model.eval()  # BN on running statistics: per-process stats cannot differ
    losses = model.loss(views, None)
    sum(losses.values()).backward()
    grads = {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }
    return dict(
        losses={k: v.detach() for k, v in losses.items()},
        grads=grads,
        queue=model.global_queue.feats.clone(),
        queue_ptr=model.global_queue.ptr.clone(),
        dense_queue=model.dense_queue.feats.clone(),
        dense_queue_ptr=model.dense_queue.ptr.clone())


def _densecl_worker(rank: int, port: int, tmpdir: str) -> None:
    _init(rank, port)
    state = torch.load(os.path.join(tmpdir, 'model.pth'))
    views = torch.load(os.path.join(tmpdir, 'views.pth'))
    model = build(DENSECL)
    model.load_state_dict(state)
    mine = [v[rank * PER_RANK:(rank + 1) * PER_RANK] for v in views]
    out = _densecl_step(model, mine)
    # What DDP does: average the gradients over processes.
    for g in out['grads'].values():
        dist.all_reduce(g)
        g /= WORLD
    # The global loss is the mean of the per-process means (equal sizes).
    for v in out['losses'].values():
        dist.all_reduce(v)
        v /= WORLD
    torch.save(out, os.path.join(tmpdir, f'rank{rank}.pth'))
    dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_processes_equal_one_process(tmp_path):
    torch.manual_seed(0)
    model = build(DENSECL)
    torch.save(model.state_dict(), tmp_path / 'model.pth')
    views = [torch.randn(WORLD * PER_RANK, 3, 64, 64) for _ in range(2)]
    torch.save(views, tmp_path / 'views.pth')
    single = _densecl_step(model, views)

    mp.spawn(
        _densecl_worker,
        args=(_free_port(), str(tmp_path)),
        nprocs=WORLD,
        join=True)

    for rank in range(WORLD):
        multi = torch.load(tmp_path / f'rank{rank}.pth')
        for key in ('loss_single', 'loss_dense'):
            torch.testing.assert_close(
                multi['losses'][key], single['losses'][key], rtol=1e-5,
                atol=1e-6, msg=f'{key} on rank {rank}')
        # Queues hold the gathered keys of all 8 images, in global order.
        for key in ('queue', 'dense_queue'):
            torch.testing.assert_close(
                multi[key], single[key], rtol=1e-5, atol=1e-6,
                msg=f'{key} on rank {rank}')
            assert torch.equal(multi[key + '_ptr'], single[key + '_ptr'])
        assert int(single['queue_ptr']) == WORLD * PER_RANK
        assert multi['grads'].keys() == single['grads'].keys()
        for name, grad in single['grads'].items():
            torch.testing.assert_close(
                multi['grads'][name], grad, rtol=1e-4, atol=1e-6,
                msg=f'gradient of {name} on rank {rank}')


def _shuffle_worker(rank: int, port: int, tmpdir: str) -> None:
    from dense_contrast.models.utils import batch_shuffle, batch_unshuffle
    _init(rank, port)
    torch.manual_seed(100 + rank)  # the permutation comes from rank 0
    ids = torch.arange(PER_RANK) + rank * PER_RANK  # global image ids
    images = ids.float().view(-1, 1, 1, 1).expand(-1, 3, 2, 2).contiguous()
    shuffled, idx_unshuffle = batch_shuffle(images)
    # A "key encoder" that tags each output with the image it saw and the
    # process that computed it.
    seen = shuffled[:, 0, 0, 0]
    keys = torch.stack([seen, torch.full_like(seen, rank)], dim=1)
    dense = seen.view(-1, 1, 1).expand(-1, 2, 3).contiguous()
    keys, dense = batch_unshuffle([keys, dense], idx_unshuffle)
    torch.save(
        dict(ids=ids, seen=seen, keys=keys, dense=dense),
        os.path.join(tmpdir, f'shuffle{rank}.pth'))
    dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_batch_shuffle_returns_every_key_to_its_image(tmp_path):
    mp.spawn(
        _shuffle_worker,
        args=(_free_port(), str(tmp_path)),
        nprocs=WORLD,
        join=True)
    outs = [torch.load(tmp_path / f'shuffle{r}.pth') for r in range(WORLD)]
    computed_elsewhere = 0
    for rank, out in enumerate(outs):
        assert torch.equal(out['keys'][:, 0], out['ids'].float())
        assert torch.equal(out['dense'][:, 0, 0], out['ids'].float())
        computed_elsewhere += int((out['keys'][:, 1] != rank).sum())
    # The shuffle really crossed processes: all 8 images were processed
    # exactly once, and some keys were computed by the other process.
    seen = torch.cat([o['seen'] for o in outs]).sort().values
    assert torch.equal(seen, torch.arange(WORLD * PER_RANK).float())
    assert computed_elsewhere > 0
