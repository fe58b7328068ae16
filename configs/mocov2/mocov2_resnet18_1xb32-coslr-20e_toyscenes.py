# MoCo v2 (mmpretrain's own `MoCo`) on the embedded toy scenes with the data,
# schedule and backbone of the DenseCL toy config: ResNet-18, 96 px views,
# 32 images, 8 epochs, SGD lr 0.03 cosine, queue 4,096, tau 0.2, m 0.999.
# The global-only baseline for DenseCL comparisons (tools/transfer.py
# --mocov2-config).
_base_ = [
    '../_base_/models/selfsup_data_preprocessor.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_8e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='mmpretrain.MoCo',
    queue_len=4096,  # a multiple of the batch, as MoCo asserts
    feat_dim=128,
    momentum=0.001,  # mmengine's convention: 1 - m with MoCo's m = 0.999
    backbone=dict(
        type='ResNet',
        depth=18,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='MoCoV2Neck',
        in_channels=512,
        hid_channels=512,
        out_channels=128,
        with_avg_pool=True),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
