"""Hooks that keep a run safe: stop on a non-finite loss, checkpoint on
SIGTERM and resume mid-epoch, and report skipped (unreadable) images."""
import os.path as osp
import signal
from itertools import islice
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch.utils.data import Sampler

from dense_contrast.registry import HOOKS

__all__ = [
    'NonFiniteLossError', 'TrainingInterrupted', 'NonFiniteLossHook',
    'SignalCheckpointHook', 'SkippedImagesHook', 'last_good_checkpoint'
]


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; nothing was saved after it."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint.

    Attributes:
        signum (int): The signal number.
        checkpoint (str): The checkpoint written.
    """

    def __init__(self, message: str, signum: int, checkpoint: str) -> None:
        super().__init__(message)
        self.signum = signum
        self.checkpoint = checkpoint


def last_good_checkpoint(runner) -> Optional[str]:
    """The newest checkpoint on disk for this run, or None.

    Looks at what ``CheckpointHook`` recorded (``last_ckpt`` in the message
    hub, ``<work_dir>/last_checkpoint``), then at the checkpoint the run was
    resumed or loaded from.

    Args:
        runner (Runner): The runner.

    Returns:
        str, optional: A path that exists.
    """
    candidates = [runner.message_hub.get_info('last_ckpt')]
    record = osp.join(runner.work_dir, 'last_checkpoint')
    if osp.isfile(record):
        with open(record) as f:
            candidates.append(f.read().strip())
    candidates.append(runner.cfg.get('load_from'))
    return next((c for c in candidates if c and osp.isfile(c)), None)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop the run when a loss term is NaN or infinite.

    Runs right after the step, before any hook that saves (``CheckpointHook``
    has a lower priority), so a bad state never reaches the disk and the
    existing checkpoints stay as they were. The error names the iteration,
    every loss term and the last good checkpoint to resume from.

    All terms are checked with one reduction, i.e. a single host sync per
    ``interval`` iterations; mmengine's logging syncs every iteration anyway.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'HIGH'

    def __init__(self, interval: int = 1) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[Dict[str, torch.Tensor]] = None
                         ) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        terms = {
            k: v
            for k, v in outputs.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()
        }
        if not terms:
            return
        values = torch.stack([v.detach().float().mean() for v in terms.values()])
        if bool(torch.isfinite(values).all()):
            return
        listed = ', '.join(f'{k}={v:.4g}' for k, v in zip(terms, values.tolist()))
        good = last_good_checkpoint(runner)
        advice = (f'last good checkpoint: {good} (continue with --resume '
                  f'{good}, e.g. after lowering the learning rate)'
                  if good else 'no checkpoint has been written in this run')
        raise NonFiniteLossError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}, batch {batch_idx + 1}): {listed}. Stopped '
            f'without saving anything; {advice}.')


class _SkipFirst(Sampler):
    """Yield a sampler's indices without the first ``num_skipped``.

    Args:
        sampler (Sampler): The wrapped sampler (its ``set_epoch`` still acts).
        num_skipped (int): Indices to drop at the start.
    """

    def __init__(self, sampler: Sampler, num_skipped: int) -> None:
        self.sampler = sampler
        self.num_skipped = num_skipped

    def __iter__(self) -> Iterator[int]:
        return islice(iter(self.sampler), self.num_skipped, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.num_skipped, 0)


@HOOKS.register_module()
class SignalCheckpointHook(Hook):
    """Write a checkpoint on SIGTERM (and optionally SIGINT), then stop;
    resume such a mid-epoch checkpoint where it stopped.

    The handler only sets a flag; after the current iteration finishes the
    hook saves ``iter_<n>.pth`` in the work dir (through
    ``Runner.save_checkpoint``, so the other hooks' ``before_save_checkpoint``
    run), points ``<work_dir>/last_checkpoint`` at it, and raises
    :class:`TrainingInterrupted`; ``tools/train.py`` turns that into exit
    status 128 + signal number. ``--resume`` then picks the file up.

    mmengine's epoch loop restarts an epoch from its first batch. When the
    resumed iteration lies inside an epoch, this hook makes the sampler skip
    the batches already trained on in that epoch (same order, the sampler
    seed is the epoch's), so the resumed run ends with exactly as many
    optimizer steps as an uninterrupted one. Batch indices in the log of
    that first epoch count from the resume point.

    In a distributed run the flag is combined across processes each
    iteration (one tiny all-reduce), so that every rank stops at the same
    iteration.

    Args:
        signals (Sequence[str]): Signal names to handle.
            Defaults to ('SIGTERM',): Ctrl-C (SIGINT) then stops at once and
            loses the work since the last checkpoint.
    """

    priority = 'VERY_LOW'

    def __init__(self, signals: Sequence[str] = ('SIGTERM', )) -> None:
        self.signals = [getattr(signal, name) for name in signals]
        self._received: Optional[int] = None
        self._previous: Dict[int, Any] = {}
        self._skip_installed = False

    # signals -------------------------------------------------------------
    def _handle(self, signum: int, frame: Any) -> None:
        self._received = signum

    def _install(self) -> None:
        for signum in self.signals:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: nothing to install
                pass

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def before_train(self, runner) -> None:
        self._install()
        from mmengine.runner import EpochBasedTrainLoop
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return  # mmengine's iteration loop skips trained batches itself
        loader = runner.train_loop.dataloader
        done = runner.iter - runner.epoch * len(loader)
        if 0 < done < len(loader):
            batch_sampler = loader.batch_sampler
            batch_sampler.sampler = _SkipFirst(batch_sampler.sampler,
                                               done * batch_sampler.batch_size)
            self._skip_installed = True
            print_log(
                f'Resuming inside epoch {runner.epoch + 1}: skipping its '
                f'first {done} batches, already trained on.',
                logger='current')

    def after_train_epoch(self, runner) -> None:
        if self._skip_installed:
            batch_sampler = runner.train_loop.dataloader.batch_sampler
            batch_sampler.sampler = batch_sampler.sampler.sampler
            self._skip_installed = False

    def after_train(self, runner) -> None:
        self._restore()

    def _signal_received(self) -> Optional[int]:
        if not (dist.is_available() and dist.is_initialized()):
            return self._received
        flag = torch.tensor([self._received or 0])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag) or None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        signum = self._signal_received()
        if signum is None:
            return
        self._restore()
        filename = f'iter_{runner.iter + 1}.pth'
        # by_epoch=False: meta records the epoch in progress and the
        # iterations done, which is what the resume above expects.
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)
        path = osp.join(runner.work_dir, filename)
        if runner.rank == 0:
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(path)
        runner.message_hub.update_info('last_ckpt', path)
        name = signal.Signals(signum).name
        raise TrainingInterrupted(
            f'{name} received: saved {path} after iteration '
            f'{runner.iter + 1}; continue with --resume (or --resume {path}).',
            signum, path)


def _robust_loaders(dataset: Any) -> List[Any]:
    """The ``RobustLoadImageFromFile`` transforms of a (wrapped) dataset."""
    from dense_contrast.datasets.robust_loading import RobustLoadImageFromFile
    found: List[Any] = []
    todo = [dataset]
    while todo:
        current = todo.pop()
        pipeline = getattr(current, 'pipeline', None)
        found.extend(t for t in getattr(pipeline, 'transforms', ())
                     if isinstance(t, RobustLoadImageFromFile))
        todo.extend(getattr(current, 'datasets', ()))
        if getattr(current, 'dataset', None) is not None:
            todo.append(current.dataset)
    return found


@HOOKS.register_module()
class SkippedImagesHook(Hook):
    """Log at the end of each epoch how many unreadable images were skipped.

    The counts come from the ``RobustLoadImageFromFile`` transforms of the
    training dataset, which share them with the dataloader workers. The
    number is also stored in the message hub as ``train/skipped_images``
    (info) for other hooks.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        self._at_epoch_start = 0

    @staticmethod
    def _total(runner) -> int:
        return sum(t.num_skipped
                   for t in _robust_loaders(runner.train_dataloader.dataset))

    def before_train_epoch(self, runner) -> None:
        self._at_epoch_start = self._total(runner)

    def after_train_epoch(self, runner) -> None:
        total = self._total(runner)
        skipped = total - self._at_epoch_start
        runner.message_hub.update_info('train/skipped_images', skipped)
        print_log(
            f'Epoch {runner.epoch + 1}: skipped {skipped} unreadable images '
            f'({total} since the start of this process).',
            logger='current',
            level=30 if skipped else 20)
