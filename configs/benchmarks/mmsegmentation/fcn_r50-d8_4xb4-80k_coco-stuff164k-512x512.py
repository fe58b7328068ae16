# FCN R50-D8 on COCO-Stuff164k (171 classes: 80 things + 91 stuff), 512x512
# crops, 80k iterations of 4 GPUs x 4 images (mmseg's stock COCO-Stuff164k
# dataset and schedule: SGD lr 0.01, poly 0.9, wd 5e-4), SyncBN, auxiliary
# FCN head on C4 (weight 0.4). Metric: mIoU. DenseCL++'s second benchmark
# (COCO semantic segmentation; its abstract reports +1.8 mIoU over SimCLR,
# protocol not stated there). Backbone as in the VOC FCN config: the plain
# 7x7 ResNet stem of pretraining (`ResNet`, deep_stem=False) so that the
# extracted weights load; dilations (1,1,2,4), strides (1,2,1,1).
# Data: data/coco_stuff164k in mmseg's layout (images/{train,val}2017,
# annotations/{train,val}2017 with the *_labelTrainIds.png maps written by
# mmseg's tools/dataset_converters/coco_stuff164k.py).
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py',
    'mmseg::_base_/datasets/coco-stuff164k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

crop_size = (512, 512)
num_classes = 171
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='ResNet',
        deep_stem=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/densecl_resnet50_8xb32-coslr-200e_in1k/'
            'backbone.pth')),
    # mmseg's stock cross-entropy (averaged over every pixel), written out
    # as in the VOC and Cityscapes FCN configs.
    decode_head=dict(
        num_classes=num_classes, loss_decode=dict(avg_non_ignore=False)),
    auxiliary_head=dict(
        num_classes=num_classes, loss_decode=dict(avg_non_ignore=False)))
