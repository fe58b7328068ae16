# FCN with a dilated ResNet-18 (output stride 8) on the embedded toy scenes
# at their native 128 px: the small version of the FCN R50-D8 benchmarks
# (plain ResNet stem as in pretraining, so extracted weights load; BN
# statistics updated; auxiliary FCN head on C4), at the toy scale of the
# pretraining configs: ResNet-18 at a quarter width (base and stem channels
# 16, see configs/_base_/models/toy_backbone.py), heads of 64/32 channels.
# One process, so plain BN instead of SyncBN. The losses are mmseg's stock
# cross-entropy (avg_non_ignore=False); the toy labels have no ignored
# pixels, so it averages as avg_non_ignore=True would. The benchmark
# configs in configs/benchmarks/mmsegmentation/*_toyscenes-*.py set the
# schedule and the protocol (full fine-tune, low-label, frozen backbone);
# fcn_r18_toyscenes-256x256.py reads the backbone as it was pretrained.
#
# Splits: train on `train`, evaluate on `val` (choices are made there);
# `test_dataloader` reads the held-out `test` split, which
# `tools/transfer.py --test` scores with mmseg's tools/test.py after
# training (the numbers to report).
_base_ = ['mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

# Equal to ('background', ) + dense_contrast.datasets.TOYSCENES_CLASSES and
# TOYSCENES_PALETTE (a test checks it).
classes = ('background', 'disc', 'square', 'triangle', 'ring', 'cross',
           'star')
palette = [[0, 0, 0], [230, 68, 46], [46, 119, 230], [50, 230, 46],
           [193, 46, 230], [230, 200, 46], [46, 230, 230]]
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
base_channels = 16  # the pretraining toy backbone's width

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=base_channels,
        stem_channels=base_channels,
        deep_stem=False,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/demo_densecl_toyscenes/backbone.pth')),
    decode_head=dict(
        in_channels=8 * base_channels,
        channels=64,
        num_classes=len(classes),
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=4 * base_channels,
        channels=32,
        num_classes=len(classes),
        norm_cfg=norm_cfg))

data_root = 'data/toyscenes'
metainfo = dict(classes=classes, palette=palette)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
# The toy scenes as mmseg reads them (train and val add split and pipeline).
toy_dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.png',
    seg_map_suffix='.png',
    reduce_zero_label=False)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        toy_dataset,
        _delete_=True,  # replace the VOC dataset of the base config
        data_prefix=dict(
            img_path='train/images', seg_map_path='train/semantic'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        toy_dataset,
        _delete_=True,  # replace the VOC dataset of the base config
        data_prefix=dict(img_path='val/images', seg_map_path='val/semantic'),
        pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        data_prefix=dict(img_path='test/images',
                         seg_map_path='test/semantic')))
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# SGD lr 0.01, poly 0.9, wd 5e-4 as in the benchmark; the benchmark
# configs set max_iters.
max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
