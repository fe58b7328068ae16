# DenseCL, ResNet-50, ImageNet-1k, 200 epochs, 8 GPUs x 32 images: the
# paper's main setting (Wang et al., CVPR 2021; authors' densecl_imagenet_200ep).
# Reported transfer: VOC07+12 Faster R-CNN C4 58.7 AP, COCO Mask R-CNN FPN 1x
# 40.3 APbb / 36.4 APmk, VOC12aug FCN 69.4 mIoU.
_base_ = [
    '../_base_/models/densecl_r50.py',
    '../_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
# No find_unused_parameters: every online parameter reaches the loss (the key
# encoder is not trainable), so DDP need not search the graph.
