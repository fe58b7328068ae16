# Toy FCN, full fine-tune: every layer trained on all 2,000 training
# images for 2,000 iterations of 8 (8 epochs), SGD lr 0.01, poly 0.9.
# See configs/_base_/benchmarks/fcn_r18-d8_toyscenes.py for the model and
# data.
_base_ = ['../../_base_/benchmarks/fcn_r18-d8_toyscenes.py']

max_iters = 2000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
