# RetinaNet 2x from MCL: retinanet_r50_fpn_mcl-fpn_ms-90k_coco.py for 180k
# iterations of 16 images, lr x0.1 at 120k and 160k (detectron2's 2x).
_base_ = ['./retinanet_r50_fpn_mcl-fpn_ms-90k_coco.py']

max_iters = 180000
train_cfg = dict(max_iters=max_iters)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[120000, 160000],
        gamma=0.1)
]
