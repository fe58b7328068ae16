# DenseCL++ (all three parts) in the SimCLR framework on the toy scenes: no
# momentum encoder, no queues, in-batch negatives, NT-Xent with tau 0.1.
# It keeps the toy config's DenseCL heads (projection MLPs without BN) and
# the toy SGD schedule every method shares; the ResNet-50 SimCLR config has
# SimCLR's recipe (see README.md).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(framework='simclr', head=dict(temperature=0.1))
