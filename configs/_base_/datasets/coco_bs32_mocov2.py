# COCO train2017 as unlabelled images (DenseCL's COCO pretraining): the
# 118,287 images of data/coco/train2017/ in mmdet's layout, no annotation
# file read; two MoCo v2 views of 224 px per image, 32 images per GPU.
# The views, preprocessor and loader are imagenet_bs32_mocov2.py's; only the
# dataset differs. mmpretrain's CustomDataset lists the folder (recursively)
# at start-up; ann_file='meta/train2017.txt' (one file name a line, relative
# to train2017/) skips the listing.
_base_ = ['./imagenet_bs32_mocov2.py']

dataset_type = 'mmpretrain.CustomDataset'
data_root = 'data/coco/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='train2017',
        with_label=False,
        pipeline=_base_.train_pipeline))
