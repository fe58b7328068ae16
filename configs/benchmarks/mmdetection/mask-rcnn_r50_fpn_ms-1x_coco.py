# Mask R-CNN R50-FPN 1x on COCO 2017 with multi-scale training: the protocol
# to compare with the DenseCL and MoCo v2 papers' COCO tables.
#
# The 1x protocol of `mask-rcnn_r50_fpn_1x_coco.py` (SyncBN in the backbone,
# the FPN and both heads, norm_eval=False, no frozen stage, 4conv1fc SyncBN
# box head, mmdet's 12-epoch schedule) with the papers' training scales:
# detectron2's `R_50_FPN_1x` picks the shorter side from (640, 672, ..., 800)
# for each image, longer side at most 1333, which is mmdet's
# `RandomChoiceResize` over the same six scales (as in mmdet's
# `mask-rcnn_r50-caffe_fpn_ms-1x_coco.py`). Testing stays at 1333x800, as in
# detectron2 (MIN_SIZE_TEST 800).
# What remains different from the papers: mmdet's 1x schedule (12 epochs,
# steps at epochs 8 and 11) against detectron2's 90k iterations with steps
# at 60k and 80k, and no precise BN.
# Reported (COCO-pretrained 800 ep / ImageNet 200 ep), APbb / APmk:
#   MoCo v2: 38.5 / 34.8 (COCO), 38.9 / 35.5 (IN)
#   DenseCL: 39.6 / 35.7 (COCO), 40.3 / 36.4 (IN)
#   random init: 31.0 / 28.5
# Data: data/coco in mmdet's layout. Backbone weights: a file written by
#   tools/model_converters/extract_backbone_weights.py (or tools/transfer.py).
#   bash tools/dist_train.sh configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_ms-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/my_run/backbone.pth
_base_ = ['./mask-rcnn_r50_fpn_1x_coco.py']

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
