"""Hook that scores the backbone with dense probes while it pretrains."""
from typing import Dict, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook, LoggerHook

from dense_contrast.evaluation import DenseProbeSuite
from dense_contrast.registry import HOOKS


@HOOKS.register_module()
class DenseProbeHook(Hook):
    """Run dense probes on the online backbone every ``interval`` epochs.

    Each probe (by default the linear probe and the k-NN retrieval of
    :mod:`dense_contrast.evaluation.dense_probes`) is fitted on labelled
    images of ``train_split`` and scored on ``val_split`` with the frozen
    backbone of the model being pretrained, in eval mode (BN running
    statistics), under the input normalisation of the model's data
    preprocessor. The labelled images are read once and kept in memory.

    Results (mIoU and pixel accuracy in percent) go where the losses go:

    - the visualiser, i.e. every configured vis backend (``scalars.json``
      of ``LocalVisBackend``, TensorBoard, ...), and the run's json log
      (``vis_data/<timestamp>.json``, the file the ``LoggerHook`` writes
      the losses to), as ``{prefix}/<probe>_mIoU`` with ``epoch`` and
      ``step`` (iterations done);
    - the message hub (``runner.message_hub.get_scalar(key)``), so other
      hooks can read them, and the text log.

    Only the main process probes (no collective call inside), the others
    go on.

    Args:
        data_root (str, optional): Labelled data in the toy scenes layout
            (``{split}/images``, ``{split}/semantic``). Defaults to None:
            then ``train_dataset`` and ``val_dataset`` (mmseg dataset
            configs, e.g. VOC or ADE20K, see :class:`DenseProbeSuite`) give
            the data.
        interval (int): Probe every ``interval`` epochs; the last epoch is
            always probed. Defaults to 1.
        before_train (bool): Also probe before the first epoch (epoch 0,
            the initialisation). Defaults to False.
        probes (Sequence[dict], optional): Probe configs (registry
            ``METRICS``). Defaults to None: :class:`DenseProbeSuite`'s
            (linear + k-NN).
        prefix (str): Prefix of the logged keys. Defaults to 'probe'.
        **suite_kwargs: Other arguments of :class:`DenseProbeSuite`
            (``train_split``, ``val_split``, ``num_train``, ``num_val``,
            ``num_classes``, ``stage``, ``img_scale``, ``batch_size``,
            ``train_dataset``, ``val_dataset``, ``crop_size``).
    """

    priority = 'NORMAL'

    def __init__(self,
                 data_root: Optional[str] = None,
                 interval: int = 1,
                 before_train: bool = False,
                 probes: Optional[Sequence[dict]] = None,
                 prefix: str = 'probe',
                 **suite_kwargs) -> None:
        if interval < 1:
            raise ValueError(
                f'DenseProbeHook: interval must be >= 1, got {interval}')
        if probes is not None:
            suite_kwargs['probes'] = probes
        self.suite = DenseProbeSuite(data_root, **suite_kwargs)
        self.interval = interval
        self.probe_before_train = before_train
        self.prefix = prefix

    def before_train(self, runner) -> None:
        """Probe the initial backbone when ``before_train`` is set."""
        if self.probe_before_train:
            self._probe(runner, epoch=runner.epoch)

    def after_train_epoch(self, runner) -> None:
        """Probe every ``interval`` epochs and after the last."""
        if self.every_n_epochs(runner, self.interval) or \
                self.is_last_train_epoch(runner):
            self._probe(runner, epoch=runner.epoch + 1)

    def _probe(self, runner, epoch: int) -> Dict[str, float]:
        if not is_main_process():
            return {}
        results = self.suite.score_model(runner.model)

        scalars = {f'{self.prefix}/{k}': v for k, v in results.items()}
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(
            dict(scalars, epoch=epoch),
            step=runner.iter,
            file_path=self._json_log_name(runner))
        runner.logger.info(f'Dense probes after epoch {epoch}: ' + ', '.join(
            f'{k}: {v:.2f}' for k, v in scalars.items()))
        return results

    @staticmethod
    def _json_log_name(runner) -> Optional[str]:
        """Name of the json log the LoggerHook writes the losses to."""
        for hook in runner.hooks:
            if isinstance(hook, LoggerHook):
                return hook.json_log_path or f'{runner.timestamp}.json'
        return None
