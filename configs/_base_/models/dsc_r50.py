# DSC with a ResNet-50 on the DenseCL core (queue 65,536, tau 0.2, m 0.999,
# per-GPU BN, matching on backbone C5). No code of the authors is public:
# the values marked [D] are this project's choices.
# The top-level configs add the semantic head (k-means or prototypes).
_base_ = ['./densecl_core_r50.py']

model = dict(
    type='DSC',
    # [D] DenseCL's 0.5 / 0.5 instance / pixel balance, the pixel half split
    # between the strict match and the neighbour set; semantic term 0.5.
    loss_weights=dict(single=0.5, dense=0.25, neighbour=0.25, semantic=0.5),
    num_neighbours=3,  # [D] positives per query pixel in loss_neighbour
    neighbour_sim_thr=None,
    # [D] One direction, view 0 against the others (DenseCL's). True
    # contrasts every ordered view pair; it cost 1.5-2.1 times the step time
    # on 2 CPU cores, over the 1.3 at which it would be the default (see
    # configs/dsc/README.md). The views are the pipeline's MultiView
    # num_views (2 here).
    symmetric=False,
    neck=dict(
        type='DenseSemanticNeck',
        share_semantic_with_dense=False),  # [D] own 1x1-conv semantic head
)
