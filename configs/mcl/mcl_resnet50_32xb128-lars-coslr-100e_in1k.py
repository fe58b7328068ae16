# MCL, ResNet-50 + FPN, ImageNet-1k, 100 epochs, 32 GPUs x 128 images (global
# batch 4,096): the paper's setting (Guo et al., arXiv 2304.02010; authors'
# configs/selfsup/MCL/MCL.py). Reported transfer: COCO Mask R-CNN R50-FPN 1x
# 42.5 APbb / 38.3 APmk, with the FPN and box-head convs also transferred
# (configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_mcl-fpn-head_1x_coco.py).
# Eight 224 px views per image: 0-3 with augmentation A, 4-7 with B; LARS
# with the authors' exclusions and their warm-up x cosine schedule
# (_base_/schedules/lars_coslr_100e.py).
# The authors train in fp16 (apex O1): on GPUs run it with --amp, e.g.
#   bash tools/dist_train.sh \
#       configs/mcl/mcl_resnet50_32xb128-lars-coslr-100e_in1k.py 8 --amp
# (float16 with dynamic loss scaling, gradients unscaled before clipping).
_base_ = [
    '../_base_/models/mcl_r50_fpn.py',
    '../_base_/datasets/imagenet_bs128_mcl.py',
    '../_base_/schedules/lars_coslr_100e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
