# MCL's eight views per image, 224 px crops: views 0-3 with augmentation A
# (blur always, no solarisation), views 4-7 with augmentation B (blur 0.1,
# solarisation 0.2).


def _views(blur_prob, solarize_prob):
    return [
        dict(
            type='RandomResizedCrop',
            scale=224,
            crop_ratio_range=(0.2, 1.),
            backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(
            type='RandomApply',
            transforms=[
                dict(
                    type='ColorJitter',
                    brightness=0.4,
                    contrast=0.4,
                    saturation=0.2,
                    hue=0.1)
            ],
            prob=0.8),
        dict(
            type='RandomGrayscale',
            prob=0.2,
            keep_channels=True,
            channel_weights=(0.114, 0.587, 0.2989)),
        dict(
            type='GaussianBlur',
            magnitude_range=(0.1, 2.0),
            magnitude_std='inf',
            prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
    ]


train_pipeline = [
    dict(type='RobustLoadImageFromFile', on_error='skip'),
    dict(
        type='MultiView',
        num_views=[4, 4],
        transforms=[_views(1.0, 0.0), _views(0.1, 0.2)]),
    dict(type='PackInputs'),
]
