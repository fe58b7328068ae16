# The toy FCN with the backbone as it was pretrained: no dilation (output
# stride 32) and the 128 px toy images read at 256 px, so C5 is an 8x8 grid
# and objects appear at about the scale of the 160 px pretraining views.
# Predictions are scored on the labels at their native 128 px. Everything
# else (model, data, schedule) is configs/_base_/benchmarks/
# fcn_r18-d8_toyscenes.py; the configs in configs/benchmarks/mmsegmentation/
# *_toyscenes-256x256.py set the protocol.
_base_ = ['fcn_r18-d8_toyscenes.py']

img_scale = (256, 256)
model = dict(
    data_preprocessor=dict(size=img_scale),
    backbone=dict(strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1)))

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
