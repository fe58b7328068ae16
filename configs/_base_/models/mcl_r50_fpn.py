# MCL with a ResNet-50 + FPN (P2-P5) and the authors' settings: region head
# of 4 conv3x3 + MLP shared by all levels, one predictor per level, montage
# ratios 1/2/4/8 read at P5/P4/P3/P2, level weights 1/2, 1/4, 1/8, 1/8,
# tau = 1.0 with the 2 tau scale, target momentum 0.99 -> 1 on a cosine,
# SyncBN everywhere (the authors convert every BN).
_base_ = ['./selfsup_data_preprocessor.py']

norm_cfg = dict(type='SyncBN')
model = dict(
    type='MCL',
    base_momentum=0.99,  # BYOL's m: target <- m * target + (1 - m) * online
    # Branch q reads views 0-3 (augmentation A), branch k views 4-7 (B);
    # level i takes view i of its branch.
    view_indices=((0, 1, 2, 3), (4, 5, 6, 7)),
    fpn_strides=(4, 8, 16, 32),
    # The authors' composition: head on every window (BN over all of them),
    # target encoder over every canvas. True/True is much cheaper.
    head_on_used_windows=False,
    target_full_views_only=False,
    montage=dict(
        type='MontageBuilder',
        ratios=(1, 2, 4, 8),
        # Per GPU: 128 views, then 32 montages of 2x2, 8 of 4x4, 4 of 8x8.
        num_montages=(128, 32, 8, 4),
        window_stride=32,
        interpolation='nearest'),
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(0, 1, 2, 3),  # C2-C5
        norm_cfg=norm_cfg,
        zero_init_residual=False),
    # mmdet's own FPN with BN, so that its weights load into a detector's
    # FPN(norm_cfg=SyncBN) by name; xavier-uniform convs (mmdet's default).
    neck=dict(
        type='mmdet.FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        num_outs=4,
        norm_cfg=norm_cfg),
    region_neck=dict(
        type='RegionEmbeddingNeck',
        in_channels=256,
        hid_channels=2048,
        out_channels=256,
        num_convs=4,
        norm_cfg=norm_cfg,
        mlp_norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Kaiming',
            layer='Linear',
            mode='fan_in',
            nonlinearity='relu',
            distribution='normal')),
    head=dict(
        type='MultiLevelContrastHead',
        level_weights=(0.5, 0.25, 0.125, 0.125),
        temperature=1.0,
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=2048,
            out_channels=256,
            with_bias=True,
            with_last_bn=False,
            with_last_bias=True,
            with_avg_pool=False,
            norm_cfg=norm_cfg,
            init_cfg=[
                dict(type='Normal', std=0.01, layer='Linear'),
                dict(type='Constant', val=1, layer=['_BatchNorm'])
            ])),
)
