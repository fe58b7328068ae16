# The preprocessor of every pretraining model: ImageNet mean and std, images
# loaded as BGR and converted to RGB.
model = dict(
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=(123.675, 116.28, 103.53),
        std=(58.395, 57.12, 57.375),
        to_rgb=True))
