# DenseCL, ResNet-50, COCO train2017 without labels, 800 epochs, 8 GPUs x 32
# images: the paper's COCO pretraining (Wang et al., CVPR 2021; authors'
# densecl_coco_800ep). The model is the ImageNet config's; the differences
# are the data, lr 0.3 (against 0.03 on ImageNet, same global batch 256)
# and 800 cosine epochs (about 462 steps an epoch, 370k steps).
# Reported transfer of this pretraining: VOC07+12 Faster R-CNN C4 56.7 AP,
# COCO Mask R-CNN FPN 1x 39.6 APbb / 35.7 APmk, VOC12aug FCN 67.5 mIoU,
# Cityscapes FCN 75.6 mIoU.
# Data: data/coco/train2017/*.jpg (mmdet's COCO layout; no annotations are
# read).
_base_ = [
    '../_base_/models/densecl_r50.py',
    '../_base_/datasets/coco_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]

max_epochs = 800
optim_wrapper = dict(optimizer=dict(lr=0.3))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=20, max_keep_ckpts=3))
