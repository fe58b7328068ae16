# DenseCL, ResNet-50, ImageNet-1k, 200 epochs on ONE GPU x 32 images: the
# 8-GPU recipe (densecl_resnet50_8xb32-coslr-200e_in1k.py) with the global
# batch 8 times smaller and the values that depend on it rescaled. Not run
# to completion here; a derived recipe, not the paper's.
#   python tools/train.py \
#       configs/densecl/densecl_resnet50_1xb32-coslr-200e_in1k.py
_base_ = ['./densecl_resnet50_8xb32-coslr-200e_in1k.py']

# Per-GPU batch: 32, unchanged. BN statistics are still taken over 32 images
# as on each of the paper's 8 GPUs, and a 16 GB GPU holds it. The global
# batch falls from 256 to 32.
train_dataloader = dict(batch_size=32)

# Learning rate: 0.03 x 32 / 256 = 0.00375, the linear scaling rule for SGD
# (the paper's 0.03 is for a global batch of 256; auto_scale_lr in the base
# schedule records that base). Written out so that the run needs no
# --auto-scale-lr flag.
optim_wrapper = dict(optimizer=dict(lr=0.03 * 32 / 256))

# Queue: 65,536 / 8 = 8,192 keys for both the global and the dense queue.
# The queue is filled by one global batch a step; at batch 256 the paper's
# 65,536 keys were written over the last 256 steps of the key encoder. At
# batch 32 the same 65,536 keys would span 2,048 steps, i.e. negatives
# encoded by a key encoder 8 times further back in its moving average
# (momentum 0.999 per step, unchanged). 8,192 keeps the keys as recent, in
# steps, as in the paper. The price is fewer negatives: in MoCo's
# queue-size ablation (He et al., CVPR 2020) 8 times fewer keys cost about
# a point or two of linear accuracy. 8,192 is also a whole number of global
# batches (256 x 32), so the queue wraps at a batch boundary.
model = dict(queue_len=8192)

# Logged every 100 steps as in the base; with 8 times more steps an epoch,
# checkpoints every 10 epochs are still frequent enough.
#
# One process: the key encoder's batch shuffle (shuffled BN) has no other
# process to exchange samples with, so key and query BN statistics come
# from the same 32 images. The paper's 8-process shuffle is what prevents
# that; expect some loss of transfer quality against the 8-GPU recipe.
