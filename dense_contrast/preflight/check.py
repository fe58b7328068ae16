"""Run every pre-flight check in order before the Runner is built."""
import os
from typing import Optional

from mmengine.config import Config

from .checkpoint import check_checkpoint_matches, find_resume_checkpoint
from .config_keys import check_config_keys
from .data import check_train_data
from .errors import ConfigValidationError
from .queue import check_queue_against_epoch, check_queue_length

__all__ = ['preflight_check', 'world_size_of']


def world_size_of(cfg: Config) -> int:
    """Processes of the run: ``WORLD_SIZE`` under a launcher, else 1.

    Args:
        cfg (Config): The merged config (``launcher``).

    Returns:
        int: The number of processes the global batch is spread over.
    """
    if cfg.get('launcher', 'none') == 'none':
        return 1
    return int(os.environ.get('WORLD_SIZE', 1))


def preflight_check(cfg: Config,
                    config_path: Optional[str] = None,
                    cfg_options: Optional[dict] = None) -> None:
    """Run every check before the Runner is built.

    Args:
        cfg (Config): The merged config.
        config_path (str, optional): The config file (for messages).
        cfg_options (dict, optional): The ``--cfg-options`` (for messages).

    Warns:
        QueueOverEpochWarning: If ``model.queue_len`` holds more keys than
            one epoch pushes (:func:`check_queue_against_epoch`).

    Raises:
        ConfigValidationError: Naming each problem found by
            :func:`check_config_keys`, or the first one of the data, queue
            and checkpoint checks.
    """
    if cfg.get('default_scope', 'dense_contrast') != 'dense_contrast':
        # A downstream config (mmdet, mmseg, mmpretrain): its types live in
        # that package's registries, which these checks do not cover.
        return
    problems = check_config_keys(cfg, config_path, cfg_options)
    if problems:
        raise ConfigValidationError(
            'the config has unknown keys or types:\n  ' +
            '\n  '.join(problems))
    world_size = world_size_of(cfg)
    check_queue_length(cfg, world_size)
    # Count folder images far enough past the queue length (an epoch may
    # push up to a global batch fewer keys than it has images, drop_last)
    # for the epoch check below to see whether the queue outlives an epoch.
    model, loader = cfg.get('model'), cfg.get('train_dataloader')
    queue_len = model.get('queue_len') if isinstance(model, dict) else None
    batch = loader.get('batch_size', 1) if isinstance(loader, dict) else 1
    count_up_to = (queue_len + 2 * batch * world_size
                   if isinstance(queue_len, int) else 0)
    images = check_train_data(cfg, world_size, count_up_to)
    check_queue_against_epoch(cfg, images, world_size)
    resume_from = find_resume_checkpoint(cfg)
    if resume_from:
        check_checkpoint_matches(cfg, resume_from, '--resume')
