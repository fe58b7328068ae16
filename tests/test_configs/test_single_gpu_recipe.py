"""The one-GPU ResNet-50 DenseCL recipe: the 8-GPU one rescaled."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import dense_contrast  # noqa: F401
from dense_contrast.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EIGHT = osp.join(ROOT, 'configs', 'densecl',
                 'densecl_resnet50_8xb32-coslr-200e_in1k.py')
ONE = osp.join(ROOT, 'configs', 'densecl',
               'densecl_resnet50_1xb32-coslr-200e_in1k.py')


def test_values_scaled_by_the_global_batch():
    eight, one = Config.fromfile(EIGHT), Config.fromfile(ONE)
    ratio = (one.train_dataloader.batch_size * 1) / (
        eight.train_dataloader.batch_size * 8)
    assert ratio == 1 / 8
    assert one.optim_wrapper.optimizer.lr == pytest.approx(
        eight.optim_wrapper.optimizer.lr * ratio)
    assert one.optim_wrapper.optimizer.lr == pytest.approx(0.00375)
    assert one.model.queue_len == eight.model.queue_len * ratio == 8192
    # Everything else is the 8-GPU recipe's.
    assert one.model.momentum == eight.model.momentum
    assert one.train_cfg == eight.train_cfg
    assert one.param_scheduler == eight.param_scheduler
    assert one.auto_scale_lr == eight.auto_scale_lr
    assert one.train_dataloader.dataset == eight.train_dataloader.dataset


def test_builds_the_model():
    cfg = Config.fromfile(ONE)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    # FeatureQueue.feats: (D, K).
    assert model.global_queue.feats.shape[1] == 8192
    assert model.dense_queue.feats.shape[1] == 8192
