# FCN R50-D8 on PASCAL VOC 2012 + SBD augmentation, 512x512 crops, 20k
# iterations of 4 GPUs x 4 images (mmseg's stock schedule: SGD lr 0.01, poly
# 0.9, wd 5e-4), SyncBN, auxiliary FCN head on C4 (weight 0.4). Metric: mIoU.
# Protocol (DenseCL's segmentation fork, `configs/densecl/fcn_r50-d8.py`): the
# plain 7x7 ResNet stem of pretraining (`ResNet`, deep_stem=False), not
# `ResNetV1c`, so that the extracted weights load; dilations (1,1,2,4),
# strides (1,2,1,1), output stride 8.
# Reported mIoU: MoCo v2 COCO-800 64.5, IN-200 67.5; DenseCL COCO-800 67.5,
# IN-200 69.4; random init 40.7; supervised IN 67.7.
# Data: data/VOCdevkit/VOC2012 (+ SegmentationClassAug) in mmseg's layout.
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        deep_stem=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/densecl_resnet50_8xb32-coslr-200e_in1k/'
            'backbone.pth')),
    # The cross-entropy is averaged over every pixel, ignored ones
    # included (they add 0), as in mmseg's stock config and in the mmseg
    # versions the papers used (0.11, before avg_non_ignore existed in
    # 0.23). Written out so that the choice is visible: mmseg warns about
    # it at every build, and that warning is expected here.
    decode_head=dict(loss_decode=dict(avg_non_ignore=False)),
    auxiliary_head=dict(loss_decode=dict(avg_non_ignore=False)))
