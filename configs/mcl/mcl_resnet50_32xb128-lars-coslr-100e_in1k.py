# MCL, ResNet-50 + FPN, ImageNet-1k, 100 epochs, 32 GPUs x 128 images (global
# batch 4,096): the paper's setting (Guo et al., arXiv 2304.02010; authors'
# configs/selfsup/MCL/MCL.py). Reported transfer: COCO Mask R-CNN R50-FPN 1x
# 42.5 APbb / 38.3 APmk, with the FPN and box-head convs also transferred
# (configs/benchmarks/mmdetection/mask-rcnn_r50_fpn_mcl-fpn-head_1x_coco.py).
_base_ = [
    '../_base_/models/mcl_r50_fpn.py',
    '../_base_/default_runtime.py',
]

# Eight 224 px views per image: 0-3 with augmentation A, 4-7 with B.
dataset_type = 'mmpretrain.ImageNet'
data_root = 'data/imagenet/'


def _views(blur_prob, solarize_prob):
    return [
        dict(
            type='RandomResizedCrop',
            scale=224,
            crop_ratio_range=(0.2, 1.),
            backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(
            type='RandomApply',
            transforms=[
                dict(
                    type='ColorJitter',
                    brightness=0.4,
                    contrast=0.4,
                    saturation=0.2,
                    hue=0.1)
            ],
            prob=0.8),
        dict(
            type='RandomGrayscale',
            prob=0.2,
            keep_channels=True,
            channel_weights=(0.114, 0.587, 0.2989)),
        dict(
            type='GaussianBlur',
            magnitude_range=(0.1, 2.0),
            magnitude_std='inf',
            prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


train_pipeline = [
    dict(type='RobustLoadImageFromFile', on_error='skip'),
    dict(
        type='MultiView',
        num_views=[4, 4],
        transforms=[_views(1.0, 0.0), _views(0.1, 0.2)]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=16,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))

# LARS (mmpretrain's), lr 1.0 x 4096 / 256, momentum 0.9, wd 1e-5; BN and
# bias parameters get no weight decay and no LARS adaptation. Their names
# contain 'bn' (ResNet bn*, ConvModule .bn, MLP bn0/bn1), 'downsample.1'
# (the ResNet shortcut BN) or end in 'bias'.
optim_wrapper = dict(
    type='OptimWrapper',  # the authors train in fp16: add --amp on GPUs
    optimizer=dict(
        type='mmpretrain.LARS', lr=16.0, momentum=0.9, weight_decay=1e-5),
    clip_grad=dict(max_norm=500),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))
max_epochs = 100
# Linear warm-up over 3,127 iterations (10 epochs at 4,096) from 1e-4 x lr,
# then a per-iteration cosine to 1e-4.
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=False,
        begin=0,
        end=3127),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 10,
        eta_min=1e-4,
        by_epoch=True,
        begin=10,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
