# MCL's ImageNet setting (mcl_resnet50_32xb128-lars-coslr-100e_in1k.py) with
# every BN parameter excluded from weight decay and LARS adaptation, the
# shortcut BN 'downsample.1' and the MLP BN ('bn0') included. The authors'
# expression leaves the BN weights that sit in an nn.Sequential adapted and
# decayed; this variant is the broader reading of "no decay on norms".
_base_ = ['./mcl_resnet50_32xb128-lars-coslr-100e_in1k.py']

optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys=_base_.lars_exclude_all_bn))
