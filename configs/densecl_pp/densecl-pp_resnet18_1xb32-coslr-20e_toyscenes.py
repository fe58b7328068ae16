# DenseCL++ (all three parts) on the toy scenes: ResNet-18, 96 px views
# (a 3x3 grid), one process with 32 images, 8 epochs. The ablation configs
# below inherit from this one.
_base_ = [
    '../_base_/models/densecl_pp_r50.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_8e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    queue_len=4096,
    dense_queue_len=4096,
    num_dense_negatives=256,  # of the 32 * 9 locations of the batch
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512),
    rec_head=dict(in_channels=512, channels=(128, 64, 32, 16)))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
