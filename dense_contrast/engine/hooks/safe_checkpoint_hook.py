"""Hook that keeps mmengine checkpoints loadable with ``weights_only=True``."""
from mmengine.hooks import Hook

from dense_contrast.registry import HOOKS
from dense_contrast.utils.checkpoint import (make_checkpoint_safe,
                                             register_safe_globals,
                                             warn_if_unsafe)


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Rewrite each checkpoint so that plain ``torch.load(path)`` reads it.

    Right before mmengine writes a checkpoint, the message hub's
    ``HistoryBuffer`` objects are replaced by copies that pickle without
    ``builtins.getattr`` and numpy, and numpy scalars by Python scalars (see
    :func:`dense_contrast.utils.checkpoint.make_checkpoint_safe`). The file
    then loads under torch's default ``weights_only=True`` once
    :func:`dense_contrast.utils.checkpoint.register_safe_globals` has run,
    which building this hook also does, so ``--resume`` works in a run whose
    config lists the hook. ``Runner.resume`` restores the message hub from
    the file unchanged: no ``after_load_checkpoint`` step is needed.

    The hook runs with the lowest priority so that it sees what other hooks
    (e.g. ``EMAHook``) add in their own ``before_save_checkpoint``.

    Args:
        check (bool): Whether to scan each checkpoint for globals that would
            still be refused and log a warning naming them. The scan pickles
            everything but tensor data, which is cheap. Defaults to True.

    Note:
        A ``priority`` key in the config dict overrides ``'LOWEST'`` (mmengine
        handles it); keep the hook after every hook that writes into the
        checkpoint.
    """

    priority = 'LOWEST'

    def __init__(self, check: bool = True):
        self.check = check
        # Registering here too makes resuming work even when the entry point
        # did not import ``dense_contrast`` before the runner loads the file.
        register_safe_globals()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Convert the unsafe objects of ``checkpoint`` in place.

        Args:
            runner (Runner): The runner saving the checkpoint.
            checkpoint (dict): The checkpoint dict mmengine is about to save.
        """
        make_checkpoint_safe(checkpoint)
        if self.check:
            warn_if_unsafe(checkpoint)
