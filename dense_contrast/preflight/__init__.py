"""Pre-flight checks run before any compute: config keys and types, training
data, queue length and checkpoints."""
from ..utils.validation import (ConfigValidationError, check_checkpoint_matches,
                                check_config_keys, check_queue_length,
                                check_train_data, describe_backbone,
                                find_resume_checkpoint, preflight_check)

__all__ = [
    'ConfigValidationError', 'preflight_check', 'check_config_keys',
    'check_train_data', 'check_queue_length', 'check_checkpoint_matches',
    'describe_backbone', 'find_resume_checkpoint'
]
