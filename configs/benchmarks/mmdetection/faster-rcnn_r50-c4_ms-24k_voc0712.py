# Faster R-CNN R50-C4 on PASCAL VOC: trainval 2007+2012, test 2007.
#
# Protocol (DenseCL / MoCo v2, detectron2 `Base-RCNN-C4-BN`): SyncBN in the
# backbone and the res5 box head, no frozen stage, torchvision RGB
# normalisation and a pytorch-style ResNet, 24k iterations of 16 images,
# lr 0.02, warm-up 100, steps 18k/22k, train shorter side 480-800, test 800.
# Metric: COCO-style AP (mean over IoU 0.50:0.95), AP50 and AP75, 11-point
# VOC07 AP per class (dense_contrast.VOCCocoStyleMetric; mmdet's VOCMetric
# gives AP50 only), mean of 5 runs.
# Reported AP / AP50 / AP75:
#   MoCo v2 COCO-800: 54.7 / 81.0 / 60.6    IN-200: 57.0 / 82.4 / 63.6
#   DenseCL COCO-800: 56.7 / 81.7 / 63.0    IN-200: 58.7 / 82.8 / 65.2
#   random init: 32.8 / 59.0 / 31.6
# Deviation: detectron2's `Res5ROIHeadsExtraNorm` (one more norm after res5)
# has no mmdet counterpart and is not added; precise BN is not run.
# Data: data/VOCdevkit/VOC2007 and VOC2012 in mmdet's layout.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50-caffe-c4_ms-18k_voc0712.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
# The backbone holds conv1..layer3 and the RoI head's shared ResLayer holds
# layer4: both load the same extracted file, each taking its own keys.
pretrained = 'work_dirs/densecl_resnet50_8xb32-coslr-200e_in1k/backbone.pth'
model = dict(
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    roi_head=dict(
        shared_head=dict(
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=False,
            init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
        bbox_head=dict(num_classes=20)))

val_evaluator = dict(
    _delete_=True, type='dense_contrast.VOCCocoStyleMetric',
    eval_mode='11points')
test_evaluator = val_evaluator

max_iter = 24000
train_cfg = dict(max_iters=max_iter, val_interval=4000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iter,
        by_epoch=False,
        milestones=[18000, 22000],
        gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=4000))
