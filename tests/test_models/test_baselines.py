"""The global baselines' toy configs (mmpretrain's MoCo v2 and SimCLR, the
study's `mocov2` and `simclr` rows): they build, their backbone is the one
the dense methods and the toy transfer configs have, gradients reach it,
and SimCLR's loss falls on a fixed batch."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import dense_contrast  # noqa: F401
from dense_contrast.apis.runner import REPO_ROOT
from dense_contrast.apis.study_report import METHODS
from dense_contrast.registry import MODELS


def _build(method):
    """The method's toy model (a queue of 8 keys where it has one)."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, METHODS[method][1]))
    cfg.model.pop('data_preprocessor', None)
    if 'queue_len' in cfg.model:
        cfg.model.queue_len = 8
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('method', ['mocov2', 'simclr'])
def test_baseline_toy_config_builds_and_learns(method):
    torch.manual_seed(0)
    model = _build(method)
    densecl = Config.fromfile(osp.join(REPO_ROOT, METHODS['densecl'][1]))
    # The same backbone as the dense methods (same keys after extraction).
    assert set(model.backbone.state_dict()) == set(
        MODELS.build(dict(densecl.model.backbone,
                          type='mmpretrain.ResNet')).state_dict())
    images = torch.randn(4, 3, 64, 64)
    # Two views of each image: the image with a little noise each.
    views = [images + 0.1 * torch.randn_like(images) for _ in range(2)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(5):
        loss = model.loss(views, [None] * 4)['loss']
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        grad = model.backbone.conv1.weight.grad
        assert grad is not None and grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    if method == 'simclr':
        # MoCo's queue changes its task every step; SimCLR's batch does
        # not, so on a fixed batch its loss must fall.
        assert losses[-1] < losses[0], losses
