# DenseCL++ (all three parts) on the toy scenes at the toy scale
# (toy_resnet18.py), 160 px views (a 5x5 grid), one process with 32 images,
# 20 epochs. The ablation configs below inherit from this one.
_base_ = [
    '../_base_/models/densecl_pp_r50.py',
    '../_base_/models/toy_resnet18.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_20e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    **_base_.toy_dense_core,
    dense_queue_len=_base_.toy_queue_len,
    num_dense_negatives=256,  # of the 32 * 25 locations of the batch
    rec_head=dict(
        in_channels=_base_.toy_c5_channels, channels=(64, 32, 16, 16)))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
