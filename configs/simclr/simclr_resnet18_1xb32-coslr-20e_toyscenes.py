# SimCLR (mmpretrain's own `SimCLR`) on the embedded toy scenes with the data,
# schedule and backbone every toy config shares: the toy scale
# (toy_resnet18.py: quarter-width ResNet-18), 160 px views, 32 images,
# 20 epochs, SGD lr 0.12 cosine. SimCLR's own parts: one encoder for both
# views, the other 62 views of the batch as negatives (no queue), a
# two-layer projection MLP with BN, NT-Xent with tau 0.1.
_base_ = [
    '../_base_/models/selfsup_data_preprocessor.py',
    '../_base_/models/toy_resnet18.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_20e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='mmpretrain.SimCLR',
    backbone=_base_.toy_baseline_backbone,
    neck=dict(
        type='NonLinearNeck',
        in_channels=_base_.toy_c5_channels,
        hid_channels=_base_.toy_c5_channels,
        out_channels=128,
        num_layers=2,
        norm_cfg=dict(type='BN1d'),  # one process: plain BN (SimCLR: global)
        with_avg_pool=True),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.1))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
