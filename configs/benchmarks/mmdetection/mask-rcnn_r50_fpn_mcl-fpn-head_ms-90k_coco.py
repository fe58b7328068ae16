# Mask R-CNN R50-FPN on COCO 2017 from MCL as the authors ran it
# (benchmarks/detection of https://github.com/GuoQiushan/MCL:
# coco_R_50_FPN_CONV_1x_moco.yaml, detectron2): backbone, FPN and the four
# box-head convs pretrained (`detector.pth` of the --with-fpn-head
# extraction, as mask-rcnn_r50_fpn_mcl-fpn-head_1x_coco.py), SyncBN in the
# backbone, FPN and heads, nothing frozen, and detectron2's 1x:
# - multi-scale training, shorter side drawn from 640, 672, ..., 800 (longer
#   side at most 1333), horizontal flip; testing at 800;
# - 90k iterations of 16 images (2 per GPU x 8), lr 0.02, x0.1 at 60k and
#   80k, linear warm-up from 0.001 x lr over 1,000 iterations;
# - SGD momentum 0.9, weight decay 1e-4 and none on norm parameters
#   (detectron2's WEIGHT_DECAY_NORM = 0); the 2.5e-5 runs are
#   mask-rcnn_r50_fpn_mcl-fpn-head_wd-2.5e-5_ms-90k_coco.py. The authors
#   average three runs of each weight decay;
# - precise BN (dense_contrast.TrainPreciseBNHook): every 10k iterations
#   and after the last, the BN statistics are averaged over 200 training
#   batches read by the training forward with fixed weights, from a second
#   loader of the training data whose stream continues between updates, as
#   detectron2's PreciseBN hook does.
# Reported (MCL, IN-1k 100 epochs): 42.5 APbb / 38.3 APmk for the 1x.
# Run: bash tools/dist_train.sh <this config> 8
_base_ = ['./mask-rcnn_r50_fpn_mcl-fpn-head_1x_coco.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))

max_iters = 90000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=10000)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[60000, 80000],
        gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(lr=0.02, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.))
auto_scale_lr = dict(base_batch_size=16)
# detectron2's TEST.PRECISE_BN: 200 batches, every 10k iterations (the
# authors' EVAL_PERIOD) and after the last, before checkpoint and evaluation.
custom_hooks = [
    dict(
        type='dense_contrast.TrainPreciseBNHook',
        num_iters=200,
        interval=10000)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000))
log_processor = dict(by_epoch=False)
