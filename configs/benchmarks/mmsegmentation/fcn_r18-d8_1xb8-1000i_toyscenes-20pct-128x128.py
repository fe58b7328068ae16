# Toy FCN, low-label fine-tune: every layer trained, on the first 400 of
# the 2,000 training images (20 % of the labels), for 1,000 iterations of 8,
# SGD lr 0.01, poly 0.9: the regime where a pretrained start should matter
# most. See configs/_base_/benchmarks/fcn_r18-d8_toyscenes.py for the model
# and data.
_base_ = ['../../_base_/benchmarks/fcn_r18-d8_toyscenes.py']

train_dataloader = dict(dataset=dict(indices=400))
