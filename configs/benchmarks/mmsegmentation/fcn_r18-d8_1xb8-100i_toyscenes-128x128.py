# FCN with a dilated ResNet-18 (output stride 8) on the embedded toy scenes
# at their native 128 px: the small version of the FCN R50-D8 benchmarks,
# with the same plain ResNet stem (the pretraining one, so extracted weights
# load), BN statistics updated and the auxiliary head on C4, that trains and
# evaluates (mIoU through mmseg's IoUMetric) on a CPU in a few minutes.
# One process, so plain BN instead of SyncBN; heads narrowed to 128/64
# channels. Generate the data first (tools/transfer.py does it):
#   python tools/generate_toyscenes.py
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

model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        type='ResNet',
        depth=18,
        deep_stem=False,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/demo_densecl_toyscenes/backbone.pth')),
    decode_head=dict(
        in_channels=512,
        channels=128,
        num_classes=len(classes),
        norm_cfg=norm_cfg,
        loss_decode=dict(avg_non_ignore=True)),
    auxiliary_head=dict(
        in_channels=256,
        channels=64,
        num_classes=len(classes),
        norm_cfg=norm_cfg,
        loss_decode=dict(avg_non_ignore=True)))

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
    dataset=dict(
        toy_dataset,
        _delete_=True,  # replace the VOC dataset of the base config
        data_prefix=dict(img_path='train/images', seg_map_path='train/semantic'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        toy_dataset,
        _delete_=True,  # replace the VOC dataset of the base config
        data_prefix=dict(img_path='val/images', seg_map_path='val/semantic'),
        indices=200,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# CPU budget: 100 iterations of 8 images (0.4 epoch, about 2 minutes on 2
# cores), evaluated once at the end on 200 of the 400 validation images;
# SGD lr 0.01, poly 0.9, wd 5e-4 as in the benchmark. Raise `max_iters`
# (and the scheduler's `end`) and drop `indices` for a longer fine-tune.
max_iters = 100
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
    logger=dict(interval=25),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
