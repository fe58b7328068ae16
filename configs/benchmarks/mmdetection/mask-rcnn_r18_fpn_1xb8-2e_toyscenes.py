# Mask R-CNN with a ResNet-18 FPN on the embedded toy scenes at their native
# 128 px: the small version of `mask-rcnn_r50_fpn_1x_coco.py` that trains and
# evaluates (COCO bbox and segm AP through pycocotools) on a CPU in minutes.
# It keeps the transfer protocol's choices (backbone, FPN and heads all
# fine-tuned, no frozen stage, BN statistics updated, 4conv1fc box head with
# norm layers) with plain BN instead of SyncBN (one process) and narrower
# necks and heads. Generate the data first (tools/transfer.py does it):
#   python tools/generate_toyscenes.py
# The backbone starts from an extracted checkpoint; tools/transfer.py points
# `model.backbone.init_cfg.checkpoint` at its own file.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

# Equal to dense_contrast.datasets.TOYSCENES_CLASSES (a test checks it).
classes = ('disc', 'square', 'triangle', 'ring', 'cross', 'star')
num_classes = len(classes)
img_size = 128
channels = 128  # FPN and head width (256 in the R50 config)
base_channels = 16  # ResNet-18 at a quarter width, as the toy pretraining
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    backbone=dict(
        depth=18,
        # The pretraining toy backbone's width (a quarter of ResNet-18's).
        base_channels=base_channels,
        stem_channels=base_channels,
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/demo_densecl_toyscenes/backbone.pth')),
    neck=dict(
        in_channels=[16, 32, 64, 128],  # C2-C5 of that backbone
        out_channels=channels,
        norm_cfg=norm_cfg),
    rpn_head=dict(
        in_channels=channels,
        feat_channels=channels,
        # Anchors of 8 to 128 px on P2-P6: toy objects are 6 to 64 px.
        anchor_generator=dict(scales=[2])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=channels,
            conv_out_channels=channels,
            fc_out_channels=256,
            norm_cfg=norm_cfg,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(
            in_channels=channels,
            conv_out_channels=channels,
            norm_cfg=norm_cfg,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        # 64 RoIs per image (toy images hold 2 to 6 objects): the 4conv box
        # head on every sampled RoI dominates the step time on a CPU.
        rcnn=dict(sampler=dict(num=64))),
    # 100 proposals and 20 detections per image at test time (toy images
    # hold at most 6 objects): the 4conv box head on 300 proposals made
    # evaluation take as long as training.
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=20)))

data_root = 'data/toyscenes/'
metainfo = dict(classes=classes)
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/images/'),
        indices=240,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/images/'),
        indices=100,
        pipeline=test_pipeline))
# The held-out test split (what `tools/transfer.py --test` scores).
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        ann_file='annotations/instances_test.json',
        data_prefix=dict(img='test/images/')))
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json',
    metric=['bbox', 'segm'])
test_evaluator = dict(
    val_evaluator, ann_file=data_root + 'annotations/instances_test.json')

# CPU budget: 240 of the 2,000 training images for 2 epochs (60
# iterations of 8 images, about 2 minutes on 2 cores), evaluated at the end
# on 100 of the 400 validation images. lr 0.02 (the R50 config's rate for
# batch 16; the BN layers in every head keep it stable at batch 8) with a
# 10-iteration warmup and a cosine decay over the run in place of the 1x
# steps, which need a far longer run. Drop `indices` to use
# everything.
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=10),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=2e-4,
         begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=0.02))
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
