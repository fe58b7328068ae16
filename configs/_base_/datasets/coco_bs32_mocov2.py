# COCO train2017 as unlabelled images (DenseCL's COCO pretraining): the
# 118,287 images of data/coco/train2017/ in mmdet's layout, no annotation
# file read; two MoCo v2 views of 224 px per image, 32 images per GPU.
# mmpretrain's CustomDataset lists the folder (recursively) at start-up;
# ann_file='meta/train2017.txt' (one file name a line, relative to
# train2017/) skips the listing.
_base_ = ['./mocov2_view.py']

dataset_type = 'mmpretrain.CustomDataset'
data_root = 'data/coco/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    # Skips unreadable images with a counted warning; on_error='raise' makes
    # them fatal.
    dict(type='RobustLoadImageFromFile', on_error='skip'),
    dict(type='MultiView', num_views=2, transforms=[_base_.view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train2017',
        with_label=False,
        pipeline=train_pipeline))
