# Mask R-CNN R50-FPN 1x on COCO 2017 from MCL: backbone, FPN and the four
# box-head convs all pretrained (the authors' transfer, include_head=True).
# The rest of the protocol (SyncBN everywhere, 4conv1fc box head, no frozen
# stage) is the base config's. Reported (MCL, IN-1k 100 epochs): 42.5 APbb /
# 38.3 APmk, +4.0 / +3.1 over MoCo (abstract of arXiv 2304.02010).
# Weights: a file written with
#   python tools/model_converters/extract_backbone_weights.py \
#       work_dirs/mcl_resnet50_32xb128-lars-coslr-100e_in1k/epoch_100.pth \
#       work_dirs/mcl_resnet50_32xb128-lars-coslr-100e_in1k/detector.pth \
#       --with-fpn-head
# whose keys are mmdet's (backbone.*, neck.*, roi_head.bbox_head.
# shared_convs.*); each module loads its part through its prefix. For
# another file, edit `pretrained` below (it is read when the config parses).
_base_ = ['./mask-rcnn_r50_fpn_1x_coco.py']

pretrained = ('work_dirs/mcl_resnet50_32xb128-lars-coslr-100e_in1k/'
              'detector.pth')
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='neck.')),
    roi_head=dict(
        bbox_head=dict(
            # mmdet's own defaults of Shared4Conv1FCBBoxHead (replaced when
            # init_cfg is given), then the pretrained shared convs last.
            init_cfg=[
                dict(type='Normal', std=0.01, override=dict(name='fc_cls')),
                dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
                dict(
                    type='Xavier',
                    distribution='uniform',
                    override=[
                        dict(name='shared_fcs'),
                        dict(name='cls_fcs'),
                        dict(name='reg_fcs')
                    ]),
                dict(
                    type='Pretrained',
                    checkpoint=pretrained,
                    prefix='roi_head.bbox_head.'),
            ])))
