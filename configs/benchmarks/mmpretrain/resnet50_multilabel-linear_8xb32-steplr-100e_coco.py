# COCO multi-label classification (DenseCL++'s headline benchmark: mAP over
# the 80 classes), linear protocol on frozen features. An image's labels are
# the categories of its instance annotations (dense_contrast.CocoMultiLabel
# on instances_{train,val}2017.json; images without any annotation are left
# out: 117,266 train, 4,952 val images). The pretrained ResNet-50 is frozen
# (all four stages, BN in eval mode); global average pooling, a BN without
# affine parameters (MAE's linear probe: makes the learning rate independent
# of each method's feature scale) and one linear layer with a sigmoid per
# class (binary cross-entropy) are trained.
# Input: the whole image resized to 448 x 448 (the multi-label COCO
# convention, as ML-GCN / ASL / mmpretrain's CSRA), random horizontal flip.
# Schedule: the linear protocol of the ImageNet benchmark
# (resnet50_linear-8xb32-steplr-100e_in1k.py: SGD momentum 0.9, no weight
# decay, 100 epochs, steps at 60 and 80, 8 GPUs x 32 images), with lr 0.1
# for the standardised features (MAE's base lr of its BN linear probe).
# Metrics (mmpretrain): mAP (AveragePrecision), CP/CR/CF1
# (MultiLabelMetric, average='macro') and OP/OR/OF1 (average='micro') at
# score threshold 0.5. Reported (DenseCL++, arXiv 2210.05063, abstract;
# protocol not stated there): +3.5 mAP over SimCLR, +4.0 over DenseCL.
# Data: data/coco in mmdet's layout (annotations/, train2017/, val2017/).
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

num_classes = 80
img_size = 448

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
        depth=50,
        out_indices=(3, ),
        style='pytorch',
        frozen_stages=4,
        norm_eval=True,
        # An extracted file holds backbone keys without 'backbone.'.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/densecl_resnet50_8xb32-coslr-200e_in1k/'
            'backbone.pth',
            prefix=None)),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='ClsBatchNormNeck', input_features=2048),
    ],
    head=dict(
        type='MultiLabelLinearClsHead',
        num_classes=num_classes,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', use_sigmoid=True),
        thr=0.5))

data_root = 'data/coco/'
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
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix='train2017/',
        pipeline=train_pipeline))
# Validation: the training loader's settings on val2017, in order, without
# the flip.
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='annotations/instances_val2017.json',
        data_prefix='val2017/',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='AveragePrecision'),  # mAP
    dict(type='MultiLabelMetric', thr=0.5, average='macro'),  # CP CR CF1
    dict(type='MultiLabelMetric', thr=0.5, average='micro'),  # OP OR OF1
]
test_evaluator = val_evaluator

max_epochs = 100
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
