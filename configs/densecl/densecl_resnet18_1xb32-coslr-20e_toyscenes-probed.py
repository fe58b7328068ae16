# The DenseCL toy config with dense probes of the backbone's layer3 before
# the first and after the last epoch (what `make demo` pretrains). The
# probes fit on 200 training images and score 200 images of the held-out
# test split, read at 256 px (a 16x16 grid): a linear probe, a k-NN probe
# (k = 5) and the dense correspondence probe. The probe before training is
# the random-init baseline of the same run. Layer3, k = 5 and the sizes were
# chosen on the val split (see configs/densecl/README.md); about 30 s a
# probe on 2 CPU cores.
_base_ = ['./densecl_resnet18_1xb32-coslr-20e_toyscenes.py']

custom_hooks = _base_.custom_hooks + [
    dict(
        type='DenseProbeHook',
        data_root='data/toyscenes',
        before_train=True,
        interval=1000,  # only before the first and after the last epoch
        stage=2,
        img_scale=256,
        val_split='test',
        num_train=200,
        num_val=200,
        probes=[
            dict(type='DenseLinearProbe'),
            dict(type='DenseKNNProbe', k=5),
            dict(type='DenseCorrespondenceProbe', view_size=256,
                 photometric=True),
        ])
]
