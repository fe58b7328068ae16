"""Pre-flight checks: refuse bad input before any compute is spent.

``tools/train.py`` calls :func:`preflight_check` after the command line has
been merged into the config and before mmengine's ``Runner`` is built. Each
problem is reported with where it comes from (config file and dotted key,
``--cfg-options``, data folder, checkpoint) and what was expected:

* unknown config keys (``model.neck.hid_channel``) and unknown types
  (``type='DenseCLL'``), with the nearest valid name (``difflib``), and plain
  values of the wrong type where the constructor annotates ``int``,
  ``float``, ``bool`` or ``str``;
* a top-level key that looks like a misspelt Runner key
  (``param_schedulers`` for ``param_scheduler``);
* a missing or empty data root, an image folder without readable images, a
  batch larger than the dataset;
* a queue shorter than the global batch (batch size x processes);
* a queue longer than one epoch's keys, where every image meets its own
  earlier keys among its negatives (a warning, :class:`QueueOverEpochWarning`);
* a checkpoint given to ``--resume`` (or to the extract tool) that belongs to
  another method or backbone depth: the keys that differ are listed.

The checks only read the config, list folders (stopping as soon as enough
images were seen), decode at most a few images and, for a checkpoint, build
the model once on the CPU. They never run a forward pass.
"""
from .check import preflight_check
from .checkpoint import (check_checkpoint_matches, describe_backbone,
                         find_resume_checkpoint)
from .config_keys import check_config_keys
from .data import check_train_data
from .errors import ConfigValidationError
from .queue import (QueueOverEpochWarning, check_queue_against_epoch,
                    check_queue_length, keys_per_epoch)

__all__ = [
    'ConfigValidationError', 'preflight_check', 'check_config_keys',
    'check_train_data', 'check_queue_length', 'check_checkpoint_matches',
    'describe_backbone', 'find_resume_checkpoint', 'check_queue_against_epoch',
    'keys_per_epoch', 'QueueOverEpochWarning'
]
