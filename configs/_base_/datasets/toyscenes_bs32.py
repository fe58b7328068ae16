# The embedded "toy scenes" dataset (generated on first use under
# data/toyscenes, 2,000 training images of 128 px), 32 images per batch, and
# MoCo v2's view with 160 px crops: a 5x5 grid at ResNet's stride 32, as
# close to the papers' 7x7 as a CPU budget allows (96 px crops gave a 3x3
# grid, most of its cells background).
# toyscenes_bs32_mocov2.py and toyscenes_bs32_mcl.py add the pipelines.
_base_ = ['./mocov2_view.py']

dataset_type = 'ToyScenesDataset'
data_root = 'data/toyscenes'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

crop_size = 160
view_pipeline = [
    dict(t, scale=crop_size) if t.type == 'RandomResizedCrop' else t
    for t in _base_.view_pipeline
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
