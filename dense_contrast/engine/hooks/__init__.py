from .dense_probe_hook import DenseProbeHook
from .precise_bn_hook import TrainPreciseBNHook
from .run_safety_hooks import (NonFiniteLossError, NonFiniteLossHook,
                               SignalCheckpointHook, SkippedImagesHook,
                               TrainingInterrupted)
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = [
    'DenseProbeHook', 'SafeCheckpointHook', 'NonFiniteLossHook',
    'SignalCheckpointHook', 'SkippedImagesHook', 'NonFiniteLossError',
    'TrainingInterrupted', 'TrainPreciseBNHook'
]
