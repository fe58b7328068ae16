# The DenseCL core that DenseCL, DenseCL++ and DSC share, with a ResNet-50
# (the DenseCL authors' settings: queue 65,536, tau 0.2, m 0.999, per-GPU BN,
# matching on backbone C5 features). The method configs add the type and
# their own arguments.
_base_ = ['./selfsup_data_preprocessor.py']

model = dict(
    queue_len=65536,
    feat_dim=128,
    momentum=0.999,  # MoCo's m: theta_k <- m * theta_k + (1 - m) * theta_q
    match_on='backbone',
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(3, ),  # layer4 (C5) only
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='DenseProjectionNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_grid=None,
        # The authors initialise the Linear layers Kaiming-normal, fan_in.
        init_cfg=dict(
            type='Kaiming',
            layer='Linear',
            mode='fan_in',
            nonlinearity='relu',
            distribution='normal')),
    head=dict(type='InfoNCEHead', temperature=0.2),
)
