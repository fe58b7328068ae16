# DenseCL++ with a ResNet-50 (arXiv 2210.05063, reconstructed from the
# abstract): DenseCL's MoCo-style core (queue 65,536, tau 0.2, m 0.999,
# lambda 0.5) plus the three parts, all on.
_base_ = ['./densecl_r50.py']

model = dict(
    type='DenseCLPP',
    framework='moco',
    # The parts change DenseCL's dense term rather than adding terms, so
    # the dense terms weigh loss_lambda in total whichever parts are on
    # ('shared': parts add terms that share loss_lambda; 'additive': parts
    # add terms weighted dense_neg_weight / xview_weight on top).
    dense_weighting='replace',
    # (i) dense negatives across images: 4,096 random locations of the
    # gathered batch per step ('all', 'random_k' or 'queue'; None = off).
    dense_negatives='random_k',
    num_dense_negatives=4096,
    dense_neg_weight=0.5,  # 'additive' only
    # (ii) cross-view dense pairs: symmetric dense positives, negatives
    # from both views of the other images.
    cross_view=True,
    xview_weight=0.5,  # 'additive' only
    # The other view's non-matched locations of the query's own image are
    # no negatives: most lie on the same object or background (likely
    # false negatives). The xview-samenegs ablation row turns them on.
    same_image_negatives=False,
    # (iii) auxiliary reconstruction of the view from C5 (112 px at 224).
    reconstruction=True,
    rec_weight=0.1,
    rec_head=dict(
        type='ImageReconstructionHead',
        in_channels=2048,
        channels=(256, 128, 64, 32)),
    head=dict(type='MaskedInfoNCEHead', temperature=0.2),
)
