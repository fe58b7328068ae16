# RetinaNet R50-FPN on COCO 2017 from MCL: the authors' RetinaNet 1x
# (coco_R_50_RetinaNet_1x_moco in benchmarks/detection/finetune.sh of
# https://github.com/GuoQiushan/MCL; the yaml itself is not in their
# repository, so detectron2's RetinaNet R50 with the MoCo-style settings of
# the OpenSelfSup benchmarks is assumed): SyncBN backbone and FPN, nothing
# frozen, multi-scale 640-800 training, 90k iterations of 16 images, lr 0.01
# (x0.1 at 60k and 80k, warm-up over 1,000 iterations), weight decay 1e-4
# and none on norms, precise BN as in
# mask-rcnn_r50_fpn_mcl-fpn-head_ms-90k_coco.py (RetinaNet's head has no BN).
# Pretrained: the backbone and MCL's FPN levels P3-P5 (laterals and output
# convs: their converter's names match a RetinaNet FPN from C3); P6/P7 and
# the head start from scratch, as there. Extract with
#   python tools/model_converters/extract_backbone_weights.py \
#       work_dirs/mcl_resnet50_32xb128-lars-coslr-100e_in1k/epoch_100.pth \
#       work_dirs/mcl_resnet50_32xb128-lars-coslr-100e_in1k/detector_c3.pth \
#       --with-fpn-head --fpn-start-level 1
# (RetinaNet's FPN starts at C3: its lateral_convs.0 is MCL's
# lateral_convs.1). P6 is computed from C5 and P7 from ReLU(P6), as in
# detectron2; mmdet's FPN puts SyncBN on P6/P7 too, detectron2 does not.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']

custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

pretrained = ('work_dirs/mcl_resnet50_32xb128-lars-coslr-100e_in1k/'
              'detector_c3.pth')
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        norm_cfg=norm_cfg,
        relu_before_extra_convs=True,
        # mmdet's FPN default (replaced when init_cfg is given) for P6/P7,
        # then the pretrained P3-P5.
        init_cfg=[
            dict(type='Xavier', layer='Conv2d', distribution='uniform'),
            dict(type='Pretrained', checkpoint=pretrained, prefix='neck.'),
        ]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
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
    optimizer=dict(lr=0.01, momentum=0.9, weight_decay=1e-4),
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
