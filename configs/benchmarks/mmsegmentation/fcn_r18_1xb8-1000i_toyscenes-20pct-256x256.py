# Toy FCN, low-label fine-tune with the backbone as it was pretrained (no
# dilation, the images read at 256 px:
# configs/_base_/benchmarks/fcn_r18_toyscenes-256x256.py): every layer
# trained, on the first 400 of the 2,000 training images (20 % of the
# labels), for 1,000 iterations of 8, SGD lr 0.01, poly 0.9. The 5 %
# version is fcn_r18_1xb8-1000i_toyscenes-5pct-256x256.py.
_base_ = ['../../_base_/benchmarks/fcn_r18_toyscenes-256x256.py']

train_dataloader = dict(dataset=dict(indices=400))
