# DenseCL++ (all three parts) in the SimCLR framework on the toy scenes: no
# momentum encoder, no queues, in-batch negatives, NT-Xent with tau 0.1.
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(framework='simclr', head=dict(temperature=0.1))
