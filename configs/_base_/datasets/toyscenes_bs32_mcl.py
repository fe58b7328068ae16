# The toy scenes (see toyscenes_bs32.py), MCL's eight views per image
# (mcl_8views.py) with the toy crop size (160 px), 32 images per batch.
# 160 px views give 5x5 windows (160 = 5 x 32); tiles are 160, 80, 40 and
# 20 px.
_base_ = ['./toyscenes_bs32.py', './mcl_8views.py']

# mcl_8views.py's pipeline with every crop at the toy size.
train_pipeline = [
    dict(step, transforms=[[
        dict(t, scale=_base_.crop_size)
        if t.type == 'RandomResizedCrop' else t for t in views
    ] for views in step.transforms]) if step.type == 'MultiView' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
