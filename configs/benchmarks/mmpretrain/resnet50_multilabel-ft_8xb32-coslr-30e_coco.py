# COCO multi-label classification, fine-tune protocol: the data, head and
# metrics of resnet50_multilabel-linear_8xb32-steplr-100e_coco.py with the
# whole network trained: no frozen stage, SyncBN with statistics updated
# (as the detection and segmentation transfer protocols), the pooled
# features go to the linear layer as they are.
# Train input: a random crop of 70-100 % of the image resized to 448 x 448
# (mmpretrain's multi-label CSRA recipe) and a horizontal flip; test: the
# whole image at 448 x 448.
# Schedule (this project's choice; the paper's could not be read): SGD
# lr 0.01 for 8 GPUs x 32 images, momentum 0.9, weight decay 1e-4, the head
# at 10 x lr (as mmpretrain's CSRA), one epoch of linear warm-up, then a
# cosine over 30 epochs.
_base_ = ['./resnet50_multilabel-linear_8xb32-steplr-100e_coco.py']

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=_base_.img_size,
        crop_ratio_range=(0.7, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 30
optim_wrapper = dict(
    optimizer=dict(lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
