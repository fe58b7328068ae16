# Toy FCN, frozen backbone: the pretrained ResNet-18 is not trained (every
# stage frozen, BN in eval mode, so its running statistics stay the
# pretrained ones) and the head is linear: a 1x1 convolution and a BN
# without activation, then the 1x1 classifier, on C5, upsampled bilinearly;
# no auxiliary head. The score measures what the representation holds, not
# what fine-tuning adds.
#
# The backbone runs as it was pretrained (no dilation, the images read at
# 256 px: configs/_base_/benchmarks/fcn_r18_toyscenes-256x256.py). Chosen
# on the val split against the dilated FCN-D8 backbone at 128 px (which
# gives weights another receptive field than the one they were trained
# with) and against a head without BN (whose scale then depends on the
# backbone's): see docs/evaluation.md. All 2,000 training images, 1,000
# iterations of 8, SGD lr 0.1, poly 0.9.
_base_ = ['../../_base_/benchmarks/fcn_r18_toyscenes-256x256.py']

model = dict(
    backbone=dict(frozen_stages=4, norm_eval=True),
    decode_head=dict(
        num_convs=1,
        kernel_size=1,
        concat_input=False,
        channels=8 * _base_.base_channels,
        act_cfg=None),
    auxiliary_head=None)

optim_wrapper = dict(optimizer=dict(lr=0.1))
