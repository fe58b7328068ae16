# Toy FCN, frozen backbone: the pretrained ResNet-18 is not trained (every
# stage frozen, BN in eval mode, so its running statistics stay the
# pretrained ones) and the head is one 1x1 convolution on C5 (a linear
# classifier per location, upsampled bilinearly), no auxiliary head:
# the score measures what the representation holds, not what fine-tuning
# adds. All 2,000 training images, 1,000 iterations of 8, SGD lr 0.01,
# poly 0.9 (the base's schedule). See
# configs/_base_/benchmarks/fcn_r18-d8_toyscenes.py.
_base_ = ['../../_base_/benchmarks/fcn_r18-d8_toyscenes.py']

model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True),
    decode_head=dict(
        num_convs=0,
        concat_input=False,
        channels=8 * _base_.base_channels,
        norm_cfg=None),
    auxiliary_head=None)
