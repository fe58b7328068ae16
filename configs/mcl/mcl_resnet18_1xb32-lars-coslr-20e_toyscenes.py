# MCL on the embedded toy scenes at the toy scale (toy_resnet18.py: a
# quarter-width ResNet-18) + FPN (128 channels), eight 160 px views per
# image, one process with 32 images, 20 epochs on CPU (the other methods'
# toy budget). The data is generated under data/toyscenes on first use.
# 160 px views give 5x5 windows (160 = 5 x 32); tiles are 160, 80, 40 and
# 20 px.
_base_ = [
    '../_base_/models/mcl_r50_fpn.py',
    '../_base_/models/toy_resnet18.py',
    '../_base_/datasets/toyscenes_bs32_mcl.py',
    '../_base_/schedules/lars_coslr_100e.py',
    '../_base_/default_runtime.py',
]

# One process: plain BN (BN1d in the MLPs).
norm_cfg = dict(type='BN')
mlp_norm_cfg = dict(type='BN1d')
channels = 128
model = dict(
    montage=dict(num_montages=(32, 8, 2, 1)),  # tiles: 32, 32, 32, 64
    # Only what the loss reads is computed: each level's FPN map of its own
    # canvases, the region head on the windows used (the authors compute
    # every FPN level and window of every canvas). The same embeddings with
    # other BN batch statistics in training, at a fraction of the cost on a
    # CPU (configs/mcl/README.md). The ImageNet configs keep the authors'
    # composition.
    head_on_used_windows=True,
    fpn_on_used_levels=True,
    backbone=dict(norm_cfg=norm_cfg, **_base_.toy_backbone),
    neck=dict(
        in_channels=[16, 32, 64, 128],  # C2-C5 of the toy backbone
        out_channels=channels,
        norm_cfg=norm_cfg),
    region_neck=dict(
        in_channels=channels,
        hid_channels=512,
        out_channels=channels,
        norm_cfg=norm_cfg,
        mlp_norm_cfg=mlp_norm_cfg),
    head=dict(
        predictor=dict(
            in_channels=channels,
            hid_channels=512,
            out_channels=channels,
            norm_cfg=mlp_norm_cfg)))

# LARS as in the paper (lars_coslr_100e.py: lr 16 at batch 4096, the
# authors' weight-decay and LARS exclusions). The lr follows the square-root
# scaling rule usual for LARS at small batches, 16 x sqrt(32 / 4096) = 1.4:
# the linear rule's 0.125 moves the weights by lr x eta = 1e-4 of their norm
# per step (mmpretrain's LARS, eta = 1e-3), too little for a short toy run;
# measured on 256 images, 16 steps: pos_cos_p5 stayed at 0.00 with 0.125 and
# rose to 0.06 with 1.4.
optim_wrapper = dict(optimizer=dict(lr=1.4))
max_epochs = 20
# The authors' schedule form: a cosine over all iterations, multiplied by a
# linear warm-up factor during the first epoch.
param_scheduler = [
    dict(
        type='CosineAnnealingWarmupFactorLR',
        T_max=max_epochs,
        eta_min=1e-4,
        warmup_epochs=1,
        warmup_ratio=1e-4,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=2))
