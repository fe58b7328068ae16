# Toy FCN, frozen backbone: the pretrained ResNet-18 is not trained (every
# stage frozen, BN in eval mode, so its running statistics stay the
# pretrained ones) and the head is one 1x1 convolution on C5 (a linear
# classifier per location, upsampled bilinearly), no auxiliary head:
# the score measures what the representation holds, not what fine-tuning
# adds. All 2,000 training images, 1,000 iterations of 8, SGD lr 0.01,
# poly 0.9. See configs/_base_/benchmarks/fcn_r18-d8_toyscenes.py.
_base_ = ['../../_base_/benchmarks/fcn_r18-d8_toyscenes.py']

model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True),
    decode_head=dict(
        num_convs=0,
        concat_input=False,
        channels=8 * _base_.base_channels,
        norm_cfg=None),
    auxiliary_head=None)

max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
