# The toy scenes (see toyscenes_bs32.py), two MoCo v2 views of 96 px per
# image, 32 images per batch.
_base_ = ['./toyscenes_bs32.py']

train_pipeline = [
    # Skips unreadable images with a counted warning; on_error='raise' makes
    # them fatal.
    dict(type='RobustLoadImageFromFile', on_error='skip'),
    dict(type='MultiView', num_views=2, transforms=[_base_.view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
