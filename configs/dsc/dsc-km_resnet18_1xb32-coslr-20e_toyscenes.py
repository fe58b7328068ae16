# DSC-KM on the embedded toy scenes at the toy scale (toy_resnet18.py),
# 160 px views (a 5x5 grid), one process with 32 images, 20 epochs; same
# settings as the DenseCL toy config so the two compare. The data is
# generated under data/toyscenes on first use.
_base_ = [
    '../_base_/models/dsc_r50.py',
    '../_base_/models/toy_resnet18.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_20e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(
    **_base_.toy_dense_core,
    semantic_head=dict(
        type='KMeansSemanticHead',
        num_clusters=8,  # 6 object classes + background, 800 pixels a batch
        num_iters=10,
        seed=0,
        temperature=0.1))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
