# Runtime shared by every pretraining config of this project.
# Types resolve in the `dense_contrast` scope first, then in mmpretrain's and
# mmengine's (the project registries are children of mmpretrain's).
default_scope = 'dense_contrast'
custom_imports = dict(imports=['dense_contrast'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# SafeCheckpointHook keeps checkpoints loadable by torch.load(weights_only=True)
# (see dense_contrast/utils/checkpoint.py); the next three stop on a NaN/inf
# loss without saving, checkpoint on SIGTERM (and resume mid-epoch exactly),
# and report images RobustLoadImageFromFile skipped, per epoch.
custom_hooks = [
    dict(type='SafeCheckpointHook'),
    dict(type='NonFiniteLossHook'),
    dict(type='SignalCheckpointHook'),
    dict(type='SkippedImagesHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
# TensorBoard logging (scalars under <work_dir>/<timestamp>/vis_data): uncomment
# vis_backends.append(dict(type='TensorboardVisBackend'))
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
