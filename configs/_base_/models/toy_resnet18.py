# The toy scale every method's toy config shares (variables only; the method
# configs put them into their models).
#
# Backbone: ResNet-18 at a quarter of its width (16 stem and base channels,
# 128 at C5). With the toy views of 160 px (a 5x5 grid at C5, see
# ../datasets/toyscenes_bs32.py) its forward and backward cost about a
# quarter of a full-width ResNet-18's on 96 px views (a 3x3 grid, most of
# its cells background): 0.23 s against 0.89 s for 64 views on 2 CPU cores;
# a whole DenseCL step, data loading included, about 0.5 s against 0.8 s.
# mmdet's and mmseg's ResNet take the same two arguments, so
# the toy transfer configs load the extracted weights unchanged.
toy_backbone = dict(depth=18, base_channels=16, stem_channels=16)
toy_c5_channels = 128
# Queue of 256 keys: 8 batches, an eighth of an epoch of the 2,000 training
# images. A queue longer than an epoch holds each image's own earlier keys
# among its negatives (the known small-data failure of MoCo-style queues).
toy_queue_len = 256
# Momentum of the key encoder. MoCo's m = 0.999 averages over about 1,000
# steps, longer than a toy run, so the key encoder would stay near its
# initialisation; 0.99 averages over about 100 steps.
toy_momentum = 0.99
# The DenseCL core's fields at this scale (DenseCL, DSC and DenseCL++ use
# them as `model = dict(**_base_.toy_dense_core, ...)`).
toy_dense_core = dict(
    queue_len=toy_queue_len,
    momentum=toy_momentum,
    backbone=toy_backbone,
    neck=dict(in_channels=toy_c5_channels, hid_channels=toy_c5_channels))
# The backbone of the mmpretrain baselines' toy configs (MoCo v2, SimCLR),
# built as the dense methods build theirs: plain BN, residual blocks not
# started at zero.
toy_baseline_backbone = dict(
    type='ResNet',
    norm_cfg=dict(type='BN'),
    zero_init_residual=False,
    **toy_backbone)
