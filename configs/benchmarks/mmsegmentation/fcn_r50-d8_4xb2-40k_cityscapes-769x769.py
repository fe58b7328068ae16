# FCN R50-D8 on Cityscapes, 769x769 crops, 40k iterations of 4 GPUs x 2
# images, align_corners=True, sliding-window test (stride 513), SyncBN.
# Metric: mIoU.
# Protocol (DenseCL's segmentation fork): plain 7x7 ResNet stem (`ResNet`,
# deep_stem=False) instead of `ResNetV1c`, so the extracted weights load.
# Reported mIoU: MoCo v2 COCO-800 73.8, IN-200 74.5; DenseCL COCO-800 75.6,
# IN-200 75.7; random init 63.5.
# Data: data/cityscapes in mmseg's layout.
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py']

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
