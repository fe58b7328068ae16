# DSC-KM on the embedded toy scenes: ResNet-18, 96 px views (a 3x3 grid),
# one process with 32 images, 8 epochs; same settings as the DenseCL toy
# config so the two compare. The data is generated under data/toyscenes on
# first use.
_base_ = [
    '../_base_/models/dsc_r50.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_8e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    queue_len=4096,
    backbone=dict(depth=18),
    neck=dict(in_channels=512, hid_channels=512),
    semantic_head=dict(
        type='KMeansSemanticHead',
        num_clusters=8,  # 6 object classes + background, 288 pixels a batch
        num_iters=10,
        seed=0,
        temperature=0.1))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
