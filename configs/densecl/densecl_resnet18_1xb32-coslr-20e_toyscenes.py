# DenseCL on the embedded toy scenes: ResNet-18, 96 px views, one process
# with 32 images, 8 epochs; a few minutes on 2 CPU cores. The data is
# generated under data/toyscenes on first use.
_base_ = [
    '../_base_/models/densecl_r50.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_8e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    # 4,096 pooled keys: a queue of about two epochs of toy scenes. It need
    # not be a multiple of the batch.
    queue_len=4096,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
