"""Check that every queue of the model holds one global batch."""
from mmengine.config import Config

from .errors import ConfigValidationError

__all__ = ['check_queue_length']


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
