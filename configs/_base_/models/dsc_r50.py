# DSC with a ResNet-50 on the DenseCL core (queue 65,536, tau 0.2, m 0.999,
# per-GPU BN, matching on backbone C5). No code of the authors is public:
# the values marked [D] are this project's choices (ALGORITHMS.md section 4).
# The top-level configs add the semantic head (k-means or prototypes).
model = dict(
    type='DSC',
    queue_len=65536,
    feat_dim=128,
    momentum=0.999,  # MoCo's m: theta_k <- m * theta_k + (1 - m) * theta_q
    match_on='backbone',
    # [D] DenseCL's 0.5 / 0.5 instance / pixel balance, the pixel half split
    # between the strict match and the neighbour set; semantic term 0.5.
    loss_weights=dict(single=0.5, dense=0.25, neighbour=0.25, semantic=0.5),
    num_neighbours=3,  # [D] positives per query pixel in loss_neighbour
    neighbour_sim_thr=None,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(3, ),  # layer4 (C5) only
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='DenseSemanticNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        num_grid=None,
        share_semantic_with_dense=False,  # [D] own 1x1-conv semantic head
        init_cfg=dict(
            type='Kaiming',
            layer='Linear',
            mode='fan_in',
            nonlinearity='relu',
            distribution='normal')),
    head=dict(type='InfoNCEHead', temperature=0.2),
)
