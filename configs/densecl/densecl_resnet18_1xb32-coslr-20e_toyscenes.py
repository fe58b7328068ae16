# DenseCL on the embedded toy scenes at the toy scale (toy_resnet18.py:
# ResNet-18 at a quarter width, queue 256, m 0.99), 160 px views (a 5x5
# grid), one process with 32 images, 20 epochs: about 11 minutes on 2 CPU
# cores. The data is generated under data/toyscenes on first use.
_base_ = [
    '../_base_/models/densecl_r50.py',
    '../_base_/models/toy_resnet18.py',
    '../_base_/datasets/toyscenes_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_20e_toyscenes.py',
    '../_base_/default_runtime.py',
]

model = dict(**_base_.toy_dense_core)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
