# Multi-label classification on the embedded toy scenes, fine-tune protocol:
# the linear config's data, head and metrics
# (resnet18_multilabel-linear_1xb32-coslr-20e_toyscenes.py), with the whole
# network trained: no frozen stage, BN statistics updated (plain BN: one
# process), the global-pooled features go to the linear layer as they are.
# The small version of `resnet50_multilabel-ft_8xb32-coslr-30e_coco.py`.
_base_ = ['./resnet18_multilabel-linear_1xb32-coslr-20e_toyscenes.py']

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='BN', requires_grad=True)),
    neck=dict(_delete_=True, type='GlobalAveragePooling'))

# SGD lr 0.05 for 32 images, momentum 0.9, weight decay 1e-4, the head at
# 10 x lr, one epoch of linear warm-up then a cosine over 20 epochs (not
# swept: see configs/densecl_pp/README.md).
max_epochs = 20
optim_wrapper = dict(
    optimizer=dict(lr=0.05, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True)
]
