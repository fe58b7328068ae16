# Toy FCN, low-label fine-tune with the backbone as it was pretrained (no
# dilation, the images read at 256 px:
# configs/_base_/benchmarks/fcn_r18_toyscenes-256x256.py): every layer
# trained, on the first 400 of the 2,000 training images (20 % of the
# labels), for 1,000 iterations of 8, SGD lr 0.4, poly 0.9. The 5 %
# version is fcn_r18_1xb8-1000i_toyscenes-5pct-256x256.py.
#
# The learning rate was chosen on `val` (random init, MoCo v2 and DenseCL,
# three seeds each, at 0.2 / 0.4 / 0.8): 0.4 was the best rate in five of
# the nine runs and random init's best on average (41.9 mIoU, against 40.7
# at 0.8 and 34.5 at 0.2). The best rate moves with the start and the seed,
# so comparisons of starts should let each choose on val, as
# tools/study.py --transfer-lrs does (docs/evaluation.md, "The 20 %
# fine-tune").
_base_ = ['../../_base_/benchmarks/fcn_r18_toyscenes-256x256.py']

train_dataloader = dict(dataset=dict(indices=400))
optim_wrapper = dict(optimizer=dict(lr=0.4))
