"""DenseCL++ on two CPU processes (gloo) against one process on the same
global batch: the cross-image dense negatives (and every other term) and
the gradients agree. Batch norm is held in eval mode, as in
test_distributed.py, so per-process statistics cannot differ."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from model_builders import build
from test_densecl_pp import DENSECL_PP
from test_distributed import PER_RANK, WORLD, _free_port, _init

# MoCo with every location of the other images as negatives (the parts'
# terms added to DenseCL's); SimCLR with a random subset (the same on every
# process), gathered with gradient, in place of DenseCL's pooled negatives,
# with the same image's other-view locations as negatives too.
CASES = {
    'moco': dict(dense_negatives='all', cross_view=True,
                 dense_weighting='additive'),
    'simclr': dict(framework='simclr', dense_negatives='random_k',
                   num_dense_negatives=24, cross_view=True,
                   reconstruction=True, same_image_negatives=True),
}


def _step(model, views):
    model.eval()
    torch.manual_seed(11)  # same sample / shuffle on rank 0 and alone
    losses = model.loss(views, None)
    sum(losses.values()).backward()
    return dict(
        losses={k: v.detach() for k, v in losses.items()},
        grads={n: p.grad.clone() for n, p in model.named_parameters()
               if p.grad is not None})


def _worker(rank: int, port: int, tmpdir: str) -> None:
    _init(rank, port)
    views = torch.load(os.path.join(tmpdir, 'views.pth'))
    mine = [v[rank * PER_RANK:(rank + 1) * PER_RANK] for v in views]
    outs = {}
    for name, case in CASES.items():
        model = build(DENSECL_PP, **case)
        model.load_state_dict(torch.load(os.path.join(tmpdir, name + '.pth')))
        out = _step(model, mine)
        for tensor in [*out['grads'].values(), *out['losses'].values()]:
            dist.all_reduce(tensor)  # DDP's average; mean of equal parts
            tensor /= WORLD
        outs[name] = out
    torch.save(outs, os.path.join(tmpdir, f'rank{rank}.pth'))
    dist.destroy_process_group()


@pytest.mark.timeout(300)
def test_two_processes_equal_one_process(tmp_path):
    views = [torch.randn(WORLD * PER_RANK, 3, 64, 64) for _ in range(2)]
    torch.save(views, tmp_path / 'views.pth')
    single = {}
    for name, case in CASES.items():
        model = build(DENSECL_PP, **case)
        torch.save(model.state_dict(), tmp_path / f'{name}.pth')
        single[name] = _step(model, views)

    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD,
             join=True)

    for rank in range(WORLD):
        multi = torch.load(tmp_path / f'rank{rank}.pth')
        for name in CASES:
            ref, out = single[name], multi[name]
            assert out['losses'].keys() == ref['losses'].keys()
            assert 'loss_dense_neg' in single['moco']['losses']
            for key, value in ref['losses'].items():
                torch.testing.assert_close(
                    out['losses'][key], value, rtol=1e-5, atol=1e-6,
                    msg=f'{name} {key} on rank {rank}')
            assert out['grads'].keys() == ref['grads'].keys()
            for key, grad in ref['grads'].items():
                torch.testing.assert_close(
                    out['grads'][key], grad, rtol=1e-4, atol=1e-6,
                    msg=f'{name} gradient of {key} on rank {rank}')
