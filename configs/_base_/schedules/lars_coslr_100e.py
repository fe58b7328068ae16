# MCL's ImageNet schedule, 100 epochs at a global batch of 4,096.
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
