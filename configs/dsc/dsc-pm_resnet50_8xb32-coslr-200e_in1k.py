# DSC-PM (Li et al., ACM MM 2021), ResNet-50, ImageNet-1k, 200 epochs,
# 8 GPUs x 32 images (DenseCL's ImageNet setting). Classes: 100 learned
# prototypes; key pixels of the global batch are assigned to them by
# Sinkhorn-Knopp under an equal-partition constraint (SwAV's measure against
# collapse), and query pixels predict those codes.
_base_ = [
    '../_base_/models/dsc_r50.py',
    '../_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    semantic_head=dict(
        type='PrototypeSemanticHead',
        num_prototypes=100,  # [D]
        feat_dim=128,
        temperature=0.1,  # [D]
        sinkhorn_epsilon=0.05,  # SwAV's value
        sinkhorn_iters=3,
        freeze_iters=5004))  # one epoch at batch 256 (SwAV's freeze)

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
