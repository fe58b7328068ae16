# DenseCL++ (all three parts) on the toy scenes: ResNet-18, 96 px views
# (a 3x3 grid), one process with 32 images, 8 epochs. The ablation configs
# below inherit from this one.
_base_ = [
    '../_base_/models/densecl_pp_r50.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    queue_len=4096,
    dense_queue_len=4096,
    num_dense_negatives=256,  # of the 32 * 9 locations of the batch
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512),
    rec_head=dict(in_channels=512, channels=(128, 64, 32, 16)))

max_epochs = 8
optim_wrapper = dict(optimizer=dict(lr=0.03))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
