# DenseCL++ in the SimCLR framework (the paper's baseline family): one online
# encoder for both views, in-batch negatives gathered across 16 GPUs x 256
# images, symmetric NT-Xent with tau 0.1, and SimCLR's recipe as mmpretrain's
# simclr_resnet50_16xb256-coslr-200e_in1k: LARS lr 4.8 (0.3 x 4096 / 256),
# weight decay 1e-6, 10 epochs of linear warm-up then a cosine, SyncBN,
# zero-initialised last BN of every residual block, projection MLPs with BN,
# and SimCLR's augmentation.
_base_ = ['./densecl-pp_resnet50_8xb32-coslr-200e_in1k.py']

# SimCLR's global BN: statistics over the whole global batch. Both views go
# through the online encoder in one batch, so per-process BN would let a
# process's statistics tell its images apart from the other processes'
# (the information leak SimCLR's paper removes with global BN).
norm_cfg = dict(type='SyncBN')
model = dict(
    framework='simclr',
    backbone=dict(norm_cfg=norm_cfg, zero_init_residual=True),
    # Linear(no bias)-BN-ReLU-Linear(no bias)-BN in both branches, as
    # mmpretrain's NonLinearNeck for SimCLR.
    neck=dict(norm_cfg=norm_cfg),
    rec_head=dict(norm_cfg=norm_cfg),
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

# LARS; BN parameters and biases get no weight decay and no LARS adaptation
# (names containing 'bn' cover the backbone's, the neck's bn0/bn1 and the
# reconstruction decoder's; 'downsample.1' the shortcut BN).
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
max_epochs = 200
warmup_epochs = 10
param_scheduler = [
    # Linear warm-up from 1e-4 x lr, per iteration.
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)
