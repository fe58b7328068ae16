"""Tiny model configs shared by the model tests (ResNet-18, D = 8)."""
import copy

import dense_contrast  # noqa: F401  (registers the project's types)
from dense_contrast.registry import MODELS

FEAT_DIM = 8
DENSECL = dict(
    type='DenseCL',
    queue_len=32,
    feat_dim=FEAT_DIM,
    momentum=0.999,
    loss_lambda=0.5,
    backbone=dict(
        type='ResNet', depth=18, out_indices=(3, ), zero_init_residual=False),
    neck=dict(
        type='DenseProjectionNeck',
        in_channels=512,
        hid_channels=16,
        out_channels=FEAT_DIM),
    head=dict(type='InfoNCEHead', temperature=0.2),
)
# mmpretrain's own DenseCL with the same shapes (its EMA takes 1 - m).
MMPRETRAIN_DENSECL = dict(
    type='mmpretrain.DenseCL',
    queue_len=32,
    feat_dim=FEAT_DIM,
    momentum=0.001,
    loss_lambda=0.5,
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=18,
        out_indices=(3, ),
        zero_init_residual=False),
    neck=dict(
        type='mmpretrain.DenseCLNeck',
        in_channels=512,
        hid_channels=16,
        out_channels=FEAT_DIM,
        num_grid=None),
    head=dict(
        type='mmpretrain.ContrastiveHead',
        loss=dict(type='mmpretrain.CrossEntropyLoss'),
        temperature=0.2),
)


def build(cfg: dict, **overrides):
    cfg = copy.deepcopy(cfg)
    cfg.update(overrides)
    return MODELS.build(cfg)
