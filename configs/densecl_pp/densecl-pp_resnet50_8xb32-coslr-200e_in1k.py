# DenseCL++ (all three parts), ResNet-50, ImageNet-1k, 200 epochs, 8 GPUs x
# 32 images: DenseCL's training setting (the paper's own recipe could not be
# read). Reported by the paper:
# +4% mAP over DenseCL on COCO multi-label classification.
_base_ = [
    '../_base_/models/densecl_pp_r50.py',
    '../_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
