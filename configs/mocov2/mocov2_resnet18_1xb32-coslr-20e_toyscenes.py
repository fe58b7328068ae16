# MoCo v2 (mmpretrain's own `MoCo`) on the embedded toy scenes with the data,
# schedule and backbone of the DenseCL toy config: the toy scale
# (toy_resnet18.py: quarter-width ResNet-18, queue 256, m 0.99), 160 px
# views, 32 images, 20 epochs, SGD lr 0.12 cosine, tau 0.2.
_base_ = [
    '../_base_/models/selfsup_data_preprocessor.py',
    '../_base_/models/toy_resnet18.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_20e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='mmpretrain.MoCo',
    queue_len=_base_.toy_queue_len,  # a multiple of the batch, as MoCo asserts
    feat_dim=128,
    # mmengine's convention: 1 - m with the toy m (toy_resnet18.py)
    momentum=round(1 - _base_.toy_momentum, 6),
    backbone=_base_.toy_baseline_backbone,
    neck=dict(
        type='MoCoV2Neck',
        in_channels=_base_.toy_c5_channels,
        hid_channels=_base_.toy_c5_channels,
        out_channels=128,
        with_avg_pool=True),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
