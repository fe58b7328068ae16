# SGD with a per-epoch cosine schedule to 0, 200 epochs (DenseCL on ImageNet).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, weight_decay=1e-4, momentum=0.9))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
# lr 0.03 is for a global batch of 256; --auto-scale-lr rescales it.
auto_scale_lr = dict(base_batch_size=256)
