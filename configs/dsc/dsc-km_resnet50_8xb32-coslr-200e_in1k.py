# DSC-KM (Li et al., ACM MM 2021), ResNet-50, ImageNet-1k, 200 epochs,
# 8 GPUs x 32 images: DenseCL's ImageNet setting, which the paper is
# believed to follow. Classes: spherical k-means on the momentum encoder's
# semantic embeddings of the 256 x 49 pixels of the global batch, each step.
_base_ = [
    '../_base_/models/dsc_r50.py',
    '../_base_/datasets/imagenet_bs32_mocov2.py',
    '../_base_/schedules/sgd_coslr_200e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    semantic_head=dict(
        type='KMeansSemanticHead',
        num_clusters=100,  # [D]
        num_iters=10,  # [D] Lloyd iterations per step
        seed=0,
        temperature=0.1))  # [D]

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
