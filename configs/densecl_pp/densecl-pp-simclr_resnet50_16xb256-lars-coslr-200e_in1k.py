# DenseCL++ in the SimCLR framework (the paper's baseline family): one online
# encoder for both views, in-batch negatives gathered across 16 GPUs x 256
# images, symmetric NT-Xent with tau 0.1, LARS and SimCLR's augmentation
# (mmpretrain's simclr_resnet50_16xb256-coslr-200e_in1k recipe).
_base_ = ['./densecl-pp_resnet50_8xb32-coslr-200e_in1k.py']

model = dict(
    framework='simclr',
    head=dict(temperature=0.1),
    # 16 GPUs x 256 images x 49 locations: sample 4,096 dense negatives.
    num_dense_negatives=4096)

view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.8,
                contrast=0.8,
                saturation=0.8,
                hue=0.2)
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
        prob=0.5),
]
train_dataloader = dict(
    batch_size=256,
    dataset=dict(pipeline=[
        dict(type='RobustLoadImageFromFile', on_error='skip'),
        dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
        dict(type='PackInputs'),
    ]))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True, type='LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))
auto_scale_lr = dict(base_batch_size=4096)
