"""Check the model's queues against the batch and the epoch: every queue
must hold one global batch (an error), and the queue should not hold more
keys than one epoch pushes (a warning)."""
import math
import warnings
from typing import Optional

from mmengine.config import Config

from .errors import ConfigValidationError

__all__ = [
    'check_queue_length', 'check_queue_against_epoch', 'keys_per_epoch',
    'QueueOverEpochWarning'
]


class QueueOverEpochWarning(UserWarning):
    """The queue outlives an epoch: each image meets its own older keys among
    its negatives."""


def check_queue_length(cfg: Config, world_size: int = 1) -> None:
    """Every ``*queue_len`` of the model must hold one global batch.

    Args:
        cfg (Config): The merged config.
        world_size (int): Number of processes. Defaults to 1.

    Raises:
        ConfigValidationError: If a queue is shorter than
            ``train_dataloader.batch_size x world_size``.
    """
    model, loader = cfg.get('model'), cfg.get('train_dataloader')
    if not isinstance(model, dict) or not isinstance(loader, dict):
        return
    batch = loader.get('batch_size', 1)
    global_batch = batch * world_size
    for key, value in model.items():
        if key.endswith('queue_len') and isinstance(value, int):
            if value < global_batch:
                procs = (f' x {world_size} processes'
                         if world_size > 1 else ' x 1 process')
                raise ConfigValidationError(
                    f'model.{key}={value} is shorter than the global batch '
                    f'{global_batch} (train_dataloader.batch_size={batch}'
                    f'{procs}): every step pushes {global_batch} keys into '
                    f'the queue; set model.{key} >= {global_batch}.')


def keys_per_epoch(images: int, batch: int, world_size: int = 1,
                   drop_last: bool = False) -> int:
    """Keys one epoch pushes into a queue that takes one key per image.

    mmengine's ``DefaultSampler`` gives every process ``ceil(images /
    world_size)`` images (repeating a few to even them out); with
    ``drop_last`` the last incomplete batch of each process is skipped.

    Args:
        images (int): Images of one epoch.
        batch (int): ``train_dataloader.batch_size`` (per process).
        world_size (int): Number of processes. Defaults to 1.
        drop_last (bool): ``train_dataloader.drop_last``. Defaults to False.

    Returns:
        int: The number of keys pushed per epoch, all processes together.
    """
    per_process = math.ceil(images / world_size)
    if drop_last:
        per_process = per_process // batch * batch
    return per_process * world_size


def check_queue_against_epoch(cfg: Config,
                              images_per_epoch: Optional[int],
                              world_size: int = 1) -> Optional[str]:
    """Warn when ``model.queue_len`` is longer than what an epoch pushes.

    The methods with a ``queue_len`` here (DenseCL, DSC, DenseCL++ with
    ``framework='moco'``, mmpretrain's MoCo and DenseCL) push one key per
    image and step. A queue holding more keys than one epoch pushes keeps,
    for every image, its own key of the previous epoch (an older encoder's
    view of the same image) among its negatives: the known failure of
    MoCo-style queues on small data sets. Training still runs, so this is a
    warning (:class:`QueueOverEpochWarning`), not an error.

    Args:
        cfg (Config): The merged config (``model.queue_len``,
            ``train_dataloader.batch_size`` and ``drop_last``, and for the
            message ``train_dataloader.dataset.indices``).
        images_per_epoch (int, optional): Images of one epoch (the
            dataset's length after ``indices``), as
            :func:`~dense_contrast.preflight.check_train_data` returns it.
            None (unknown) skips the check.
        world_size (int): Number of processes. Defaults to 1.

    Returns:
        str, optional: The warning's message, None when there is none.
    """
    model, loader = cfg.get('model'), cfg.get('train_dataloader')
    if (images_per_epoch is None or not isinstance(model, dict)
            or not isinstance(loader, dict)):
        return None
    queue_len = model.get('queue_len')
    if not isinstance(queue_len, int) or isinstance(queue_len, bool):
        return None
    # DenseCL++'s SimCLR framework builds no queue (queue_len is unused).
    if model.get('framework', 'moco') != 'moco' or not model.get(
            'momentum_encoder', True):
        return None
    batch = loader.get('batch_size', 1)
    drop_last = bool(loader.get('drop_last', False))
    pushed = keys_per_epoch(images_per_epoch, batch, world_size, drop_last)
    if queue_len <= pushed:
        return None
    dataset = loader.get('dataset')
    indices = dataset.get('indices') if isinstance(dataset, dict) else None
    source = (f' after train_dataloader.dataset.indices={indices!r}'
              if isinstance(indices, int) else
              ' after train_dataloader.dataset.indices (a list)'
              if indices is not None else '')
    procs = f' x {world_size} processes' if world_size > 1 else ''
    last = ', drop_last' if drop_last else ''
    message = (
        f'model.queue_len={queue_len} holds more keys than one epoch pushes: '
        f'{images_per_epoch} images per epoch{source}, {pushed} keys with '
        f'train_dataloader.batch_size={batch}{procs}{last}. The queue spans '
        f'{queue_len / max(pushed, 1):.2f} epochs, so every image meets its '
        'own earlier keys among its negatives (the small-data failure of '
        f'MoCo-style queues). Set model.queue_len to at most {pushed} (the '
        'toy configs hold an eighth of an epoch), or train on more images.')
    warnings.warn(message, QueueOverEpochWarning, stacklevel=2)
    return message
