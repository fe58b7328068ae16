# Toy FCN, frozen backbone: the pretrained ResNet-18 is not trained (every
# stage frozen, BN in eval mode, so its running statistics stay the
# pretrained ones) and the head is linear: a 1x1 convolution and a BN
# without activation, then the 1x1 classifier, on C5, upsampled bilinearly;
# no auxiliary head. The score measures what the representation holds, not
# what fine-tuning adds.
#
# The backbone runs as it was pretrained (no dilation, output stride 32)
# and the 128 px toy images are read at 256 px, so C5 is an 8x8 grid; the
# metric is computed on the labels at their native 128 px. Chosen on the
# val split against the dilated FCN-D8 backbone at 128 px (which gives
# weights another receptive field than the one they were trained with) and
# against a head without BN (whose scale then depends on the backbone's):
# see docs/evaluation.md. All 2,000 training images, 1,000 iterations of 8,
# SGD lr 0.1, poly 0.9. See configs/_base_/benchmarks/fcn_r18-d8_toyscenes.py.
_base_ = ['../../_base_/benchmarks/fcn_r18-d8_toyscenes.py']

img_scale = (256, 256)
model = dict(
    data_preprocessor=dict(size=img_scale),
    backbone=dict(
        strides=(1, 2, 2, 2),
        dilations=(1, 1, 1, 1),
        frozen_stages=4,
        norm_eval=True),
    decode_head=dict(
        num_convs=1,
        kernel_size=1,
        concat_input=False,
        channels=8 * _base_.base_channels,
        act_cfg=None),
    auxiliary_head=None)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# Labels are loaded after the resize: predictions are scored at 128 px.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.1))
