# DenseCL++ (all three parts) in the SimCLR framework on the toy scenes: no
# momentum encoder, no queues, in-batch negatives, NT-Xent with tau 0.1, and
# SimCLR's model choices of the ResNet-50 config (zero-initialised last BN
# of every residual block, projection MLPs with BN). One process, so plain BN
# is already global BN. The optimiser stays the toy schedule's (SGD, cosine
# over 20 epochs) shared by every method's toy config.
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(
    framework='simclr',
    backbone=dict(zero_init_residual=True),
    neck=dict(norm_cfg=dict(type='BN')),
    head=dict(temperature=0.1))
