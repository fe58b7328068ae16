"""Utilities of dense_contrast: safe checkpoints, weight extraction and
optional dependencies."""
from .checkpoint import (find_unsafe_globals, make_checkpoint_safe,
                         register_safe_globals, safe_checkpoint_globals,
                         warn_if_unsafe)
from .extract import (extract_backbone_weights, load_checkpoint_safely,
                      pretrained_init_cfg, select_submodule,
                      write_atomically)
from .extras import MissingExtraError, import_optional

__all__ = [
    'register_safe_globals', 'safe_checkpoint_globals', 'make_checkpoint_safe',
    'find_unsafe_globals', 'warn_if_unsafe', 'extract_backbone_weights',
    'load_checkpoint_safely', 'pretrained_init_cfg', 'select_submodule',
    'write_atomically',
    'MissingExtraError', 'import_optional'
]
