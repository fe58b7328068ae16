# Linear classification on frozen features, ImageNet-1k: a ResNet-50 with
# all four stages frozen, global average pooling, one linear layer; SGD
# lr 30, momentum 0.9, no weight decay, 100 epochs, steps at 60/80, 8 GPUs x
# 32 images (mmpretrain's DenseCL / MoCo v2 linear benchmark).
# Reported top-1: MoCo v2 IN-200 67.5 (mmpretrain 67.5); DenseCL IN-200
# 63.3 (mmselfsup 0.x) / 63.5 (mmpretrain 1.x). DenseCL trades linear
# accuracy for dense transfer.
# Data: data/imagenet in mmpretrain's layout.
_base_ = ['mmpretrain::densecl/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

# An extracted file holds backbone keys without the 'backbone.' prefix.
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/densecl_resnet50_8xb32-coslr-200e_in1k/'
            'backbone.pth',
            prefix=None)))
