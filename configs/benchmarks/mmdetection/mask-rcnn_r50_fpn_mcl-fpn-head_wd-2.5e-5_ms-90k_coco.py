# The authors' second MCL 1x run (coco_R_50_FPN_CONV_1x_moco_wd2.5.yaml of
# https://github.com/GuoQiushan/MCL):
# mask-rcnn_r50_fpn_mcl-fpn-head_ms-90k_coco.py with weight decay 2.5e-5
# instead of 1e-4. They run each weight decay three times and average.
_base_ = ['./mask-rcnn_r50_fpn_mcl-fpn-head_ms-90k_coco.py']

optim_wrapper = dict(optimizer=dict(weight_decay=2.5e-5))
