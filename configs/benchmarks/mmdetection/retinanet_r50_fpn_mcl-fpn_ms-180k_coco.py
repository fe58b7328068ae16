# RetinaNet 2x from MCL: retinanet_r50_fpn_mcl-fpn_ms-90k_coco.py for 180k
# iterations of 16 images, lr x0.1 at 120k and 160k (detectron2's 2x).
_base_ = ['./retinanet_r50_fpn_mcl-fpn_ms-90k_coco.py']

max_iters = 180000
train_cfg = dict(max_iters=max_iters)
# The 90k config's warm-up and step decay, stretched to 180k iterations.
param_scheduler = [
    _base_.param_scheduler[0],
    dict(
        _base_.param_scheduler[1],
        end=max_iters,
        milestones=[120000, 160000]),
]
