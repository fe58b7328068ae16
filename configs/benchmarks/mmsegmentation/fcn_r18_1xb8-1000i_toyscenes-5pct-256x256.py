# Toy FCN, low-label fine-tune with the backbone as it was pretrained (no
# dilation, the images read at 256 px:
# configs/_base_/benchmarks/fcn_r18_toyscenes-256x256.py): every layer
# trained, on the first 100 of the 2,000 training images (5 % of the
# labels), for 1,000 iterations of 8, SGD lr 0.01, poly 0.9. The FCN-D8
# variant at 128 px (fcn_r18-d8_1xb8-1000i_toyscenes-5pct-128x128.py) shows
# pretrained weights objects at half the scale of their pretraining views;
# see docs/evaluation.md for the two compared.
_base_ = ['../../_base_/benchmarks/fcn_r18_toyscenes-256x256.py']

train_dataloader = dict(dataset=dict(indices=100))
