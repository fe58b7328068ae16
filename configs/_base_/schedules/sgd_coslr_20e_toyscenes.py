# The toy-scenes schedule every method shares, so that comparisons between
# methods run with one budget: SGD lr 0.03 for 32 images a step, cosine over
# 8 epochs.
_base_ = ['./sgd_coslr_200e.py']

max_epochs = 8
optim_wrapper = dict(optimizer=dict(lr=0.03))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=32)
