# Toy FCN, short fine-tune: every layer trained for 100 iterations of 8
# images (about a minute on 2 CPU cores). A quick check that a backbone
# loads and the chain runs end to end; too short to tell representations
# apart: the protocols that measure them are the full fine-tune
# (fcn_r18-d8_1xb8-2000i_...), the low-label fine-tunes (..._5pct / _20pct)
# and the frozen backbone (fcn-linear_...). See
# configs/_base_/benchmarks/fcn_r18-d8_toyscenes.py for the model and data.
_base_ = ['../../_base_/benchmarks/fcn_r18-d8_toyscenes.py']

max_iters = 100
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
    logger=dict(interval=25),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
