"""DenseCL++ configs: comparable ablation rows (one total dense weight) and
SimCLR's recipe in the SimCLR-framework config."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

from dense_contrast.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs', 'densecl_pp')
TOY_ROWS = sorted(
    glob.glob(
        osp.join(CONFIG_DIR, 'densecl-pp*_1xb32-coslr-20e_toyscenes.py')))


def _build(cfg: Config):
    init_default_scope('dense_contrast')
    try:
        return MODELS.build(cfg.model)
    finally:
        DefaultScope._instance_dict.pop(
            DefaultScope.get_current_instance().instance_name, None)


def test_every_ablation_row_has_the_same_total_dense_weight():
    """Each row's step: the dense terms it logs are those of
    ``dense_weights`` and weigh ``loss_lambda`` in total."""
    assert len(TOY_ROWS) >= 8
    names = [osp.basename(p) for p in TOY_ROWS]
    assert 'densecl-pp-xview-samenegs_resnet18_1xb32-coslr-20e_toyscenes.py' \
        in names
    totals = {}
    views = [torch.randn(2, 3, 64, 64) for _ in range(2)]
    for path in TOY_ROWS:
        cfg = Config.fromfile(path)
        assert cfg.model.dense_weighting == 'replace', path
        model = _build(cfg)
        weights = model.dense_weights()
        totals[osp.basename(path)] = sum(weights.values())
        losses = model.loss([v.clone() for v in views], None)
        dense_terms = {k for k in losses if k.startswith('loss_dense')}
        assert dense_terms == set(weights), path
        assert all(torch.isfinite(v) for v in losses.values()), path
    lam = Config.fromfile(TOY_ROWS[0]).model.loss_lambda
    assert all(v == pytest.approx(lam) for v in totals.values()), totals
    xview = Config.fromfile(
        osp.join(CONFIG_DIR,
                 'densecl-pp-xview-samenegs_resnet18_1xb32-coslr-20e_'
                 'toyscenes.py')).model
    assert xview.same_image_negatives and xview.cross_view
    # The full model keeps them off (the documented default).
    assert not Config.fromfile(
        osp.join(CONFIG_DIR, 'densecl-pp_resnet18_1xb32-coslr-20e_'
                 'toyscenes.py')).model.same_image_negatives


def test_simclr_config_follows_simclrs_recipe():
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR,
                 'densecl-pp-simclr_resnet50_16xb256-lars-coslr-200e_in1k.py'))
    model = cfg.model
    assert model.framework == 'simclr'
    assert model.backbone.norm_cfg.type == 'SyncBN'
    assert model.backbone.zero_init_residual is True
    assert model.neck.norm_cfg.type == 'SyncBN'
    assert model.rec_head.norm_cfg.type == 'SyncBN'
    assert cfg.optim_wrapper.optimizer.type == 'LARS'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(4.8)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.bn.lars_exclude
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 10
    assert warmup.convert_to_iter_based and warmup.start_factor < 1e-3
    assert cosine.type == 'CosineAnnealingLR' and cosine.begin == 10
    assert cosine.end == cfg.train_cfg.max_epochs == 200
    assert cfg.train_dataloader.batch_size == 256
    # Builds on one process; every BN of the backbone and of the projection
    # MLPs is a SyncBatchNorm, and they are all named so that the 'bn' rule
    # exempts them from weight decay and LARS.
    built = _build(cfg)
    for prefix, module in (('backbone', built.backbone),
                           ('neck', built.neck)):
        norms = {n: m for n, m in module.named_modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
        assert norms and all(
            isinstance(m, torch.nn.SyncBatchNorm) for m in norms.values())
        assert all('bn' in n or 'downsample.1' in n for n in norms), prefix
    built.backbone.init_weights()  # zero_init_residual acts here
    last_bns = [m.bn3.weight.detach() for m in built.backbone.modules()
                if hasattr(m, 'bn3')]
    assert len(last_bns) == 16 and all(
        float(w.abs().sum()) == 0 for w in last_bns)
    assert not any(
        'bias' in n for n, _ in built.neck.named_parameters()
        if '.fc' in n)
