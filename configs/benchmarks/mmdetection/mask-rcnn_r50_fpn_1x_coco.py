# Mask R-CNN R50-FPN 1x on COCO 2017 from a self-supervised backbone.
#
# Protocol (DenseCL and MoCo v2 transfer, detectron2 `R_50_FPN_1x`): SyncBN in
# the backbone, the FPN and both heads, BN statistics updated
# (`norm_eval=False`), no frozen stage (FREEZE_AT 0), box head 4conv1fc with
# SyncBN, 90k iterations of 16 images (= 12 epochs), lr 0.02, steps at 2/3
# and 8/9. mmdet's 1x schedule (12 epochs, steps 8/11) and single-scale
# 1333x800 training are kept; the papers train at multi-scale 640-800, which
# `mask-rcnn_r50_fpn_ms-1x_coco.py` does: use that one to compare with them.
# Reported (COCO-pretrained 800 ep / ImageNet 200 ep), APbb / APmk:
#   MoCo v2: 38.5 / 34.8 (COCO), 38.9 / 35.5 (IN)
#   DenseCL: 39.6 / 35.7 (COCO), 40.3 / 36.4 (IN)
#   random init: 31.0 / 28.5
# Data: data/coco in mmdet's layout. Backbone weights: a file written by
#   tools/model_converters/extract_backbone_weights.py (or tools/transfer.py).
#   bash tools/dist_train.sh configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/my_run/backbone.pth
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/densecl_resnet50_8xb32-coslr-200e_in1k/'
            'backbone.pth')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
