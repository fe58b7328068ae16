# ImageNet-1k in mmpretrain's layout, MCL's eight views of 224 px per image
# (mcl_8views.py), 128 images per GPU.
_base_ = ['./mcl_8views.py']

dataset_type = 'mmpretrain.ImageNet'
data_root = 'data/imagenet/'
train_dataloader = dict(
    batch_size=128,
    num_workers=16,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=_base_.train_pipeline))
