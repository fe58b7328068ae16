# Multi-label classification on the embedded toy scenes, linear protocol on
# frozen features: the small version of
# `resnet50_multilabel-linear_8xb32-steplr-100e_coco.py` that trains and
# evaluates on a CPU in minutes. An image's labels are the shapes it holds
# (1 to 6 of the 6 classes), read from the toy COCO json that the generator
# writes (annotations/instances_<split>.json, the one the toy Mask R-CNN
# reads) by dense_contrast.CocoMultiLabel. The pretrained ResNet-18 at a
# quarter width (as the toy pretraining) is frozen (every stage, BN in eval
# mode); global average pooling, a BN without affine parameters and one
# linear layer with a sigmoid per class (binary cross-entropy) are trained.
# Images are read whole at 160 px, the size of the pretraining views (C5 is
# a 5x5 grid).
# Metrics (mmpretrain): mAP over classes (AveragePrecision), CP/CR/CF1
# (MultiLabelMetric, average='macro') and OP/OR/OF1 (average='micro') at
# score threshold 0.5. Splits: train on `train` (2,000 images), choose on
# `val` (400), report `test` (400; tools/transfer.py --test).
# The backbone starts from an extracted checkpoint; tools/transfer.py points
# `model.backbone.init_cfg.checkpoint` at its own file.
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

# Equal to dense_contrast.datasets.TOYSCENES_CLASSES (a test checks it).
classes = ('disc', 'square', 'triangle', 'ring', 'cross', 'star')
num_classes = len(classes)
img_size = 160
base_channels = 16  # the pretraining toy backbone's width (128 at C5)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=num_classes,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
        to_onehot=True),  # multi-hot targets for the sigmoid head
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=base_channels,
        stem_channels=base_channels,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/demo_densecl_toyscenes/backbone.pth')),
    # Pooled features standardised by a BN without affine parameters (MAE's
    # linear probe): the learning rate then does not depend on the scale of
    # each method's features.
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=8 * base_channels),
    ],
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=num_classes,
        in_channels=8 * base_channels,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True),
        thr=0.5))

data_root = 'data/toyscenes/'
metainfo = dict(classes=classes)
dataset_type = 'dense_contrast.CocoMultiLabel'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix='train/images/',
        pipeline=train_pipeline))
# Validation: the training loader's settings on the `val` split, 50 images a
# batch, in order, without the flip.
val_dataloader = dict(
    train_dataloader,
    batch_size=50,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='annotations/instances_val.json',
        data_prefix='val/images/',
        test_mode=True,
        pipeline=test_pipeline))
# The held-out test split (what `tools/transfer.py --test` scores).
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        ann_file='annotations/instances_test.json',
        data_prefix='test/images/'))
val_evaluator = [
    dict(type='AveragePrecision'),  # mAP
    dict(type='MultiLabelMetric', thr=0.5, average='macro'),  # CP CR CF1
    dict(type='MultiLabelMetric', thr=0.5, average='micro'),  # OP OR OF1
]
test_evaluator = val_evaluator

# SGD with momentum, no weight decay (the linear protocol), lr 0.1 for 32
# images (not swept: see configs/densecl_pp/README.md), cosine over 20
# epochs (1,260 iterations).
max_epochs = 20
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
