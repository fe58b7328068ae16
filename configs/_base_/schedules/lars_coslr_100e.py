# MCL's ImageNet schedule, 100 epochs at a global batch of 4,096 (the
# authors' configs/selfsup/MCL/MCL.py).
# LARS (mmpretrain's), lr 1.0 x 4096 / 256, momentum 0.9, wd 1e-5, gradient
# clipping at 500. No weight decay and no LARS adaptation for exactly the
# parameters the authors' paramwise options select: names matching
# '(bn|gn)(\d+)?.(weight|bias)' or containing 'bias'. Under this project's
# names those are the biases, the ResNet norms bn1/bn2/bn3 and the ConvModule
# norms '.bn' (FPN and region-head convs). BN layers that the authors keep in
# an nn.Sequential (the ResNet shortcut 'downsample.1', the region-head and
# predictor MLP BN, here 'mlp.bn0' and 'predictors.*.bn0') are not matched by
# that expression, so their weights keep decay and adaptation (their biases
# are excluded through 'bias'). mmengine matches custom_keys as substrings,
# longest first. lars_exclude_all_bn below is the broader alternative (every
# BN parameter excluded).
lars_exclude = dict(decay_mult=0, lars_exclude=True)
optim_wrapper = dict(
    type='OptimWrapper',  # the authors train in fp16: run with --amp on GPUs
    optimizer=dict(
        type='mmpretrain.LARS', lr=16.0, momentum=0.9, weight_decay=1e-5),
    clip_grad=dict(max_norm=500),
    paramwise_cfg=dict(
        custom_keys={
            'bias': lars_exclude,
            'bn.weight': lars_exclude,
            'bn1.weight': lars_exclude,
            'bn2.weight': lars_exclude,
            'bn3.weight': lars_exclude,
        }))
# Merged into paramwise_cfg.custom_keys by
# configs/mcl/mcl_resnet50_32xb128-lars-allbn-coslr-100e_in1k.py.
lars_exclude_all_bn = {
    'bn': lars_exclude,
    'downsample.1': lars_exclude,
}
max_epochs = 100
# The authors' per-iteration cosine from lr to 1e-4 over all iterations,
# multiplied during the first 3,127 iterations (10 epochs at 4,096) by a
# linear warm-up factor from 1e-4 to 1: lr at epoch 55 is 6.75.
param_scheduler = [
    dict(
        type='CosineAnnealingWarmupFactorLR',
        T_max=max_epochs,
        eta_min=1e-4,
        warmup_iters=3127,
        warmup_ratio=1e-4,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)
