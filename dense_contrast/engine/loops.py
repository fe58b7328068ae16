"""A validation loop that scores the pretrained backbone with dense probes."""
from typing import Any, Dict, List, Union

from mmengine.dist import is_main_process
from mmengine.evaluator import Evaluator
from mmengine.runner import BaseLoop

from dense_contrast.evaluation.dense_probe_metric import DenseProbeMetric
from dense_contrast.registry import LOOPS

__all__ = ['DenseProbeValLoop']


@LOOPS.register_module()
class DenseProbeValLoop(BaseLoop):
    """Validation of a pretraining run by dense probes.

    A self-supervised model predicts nothing, so mmengine's ``ValLoop``
    (which calls ``model.val_step`` on every batch) cannot validate it. This
    loop instead hands the model to every :class:`DenseProbeMetric` of the
    evaluator on the main process (the others wait for the scores), then
    runs the evaluator and the ``*_val*`` hooks as ``ValLoop`` does, so the
    scores are logged as validation metrics every ``val_interval`` epochs
    of the training loop.

    mmengine's runner needs ``val_dataloader``, ``val_cfg`` and
    ``val_evaluator`` together; the loop reads no batch, so
    ``val_dataloader = dict()`` will do (it is never built)::

        val_cfg = dict(type='DenseProbeValLoop')
        val_dataloader = dict()
        val_evaluator = dict(type='DenseProbeMetric', ...)

    Args:
        runner (Runner): The runner.
        dataloader (Any): The runner's ``val_dataloader``; not built or
            read.
        evaluator (Evaluator | dict | list): Only
            :class:`DenseProbeMetric` entries.

    Raises:
        TypeError: If a metric of the evaluator is not a
            :class:`DenseProbeMetric`.
    """

    def __init__(self, runner, dataloader: Any,
                 evaluator: Union[Evaluator, Dict, List]) -> None:
        # An empty batch list: hooks that ask len(runner.val_dataloader)
        # (the logger's epoch summary) get 0, and nothing is built.
        super().__init__(runner, [])
        if isinstance(evaluator, (dict, list)):
            evaluator = runner.build_evaluator(evaluator)
        for metric in evaluator.metrics:
            if not isinstance(metric, DenseProbeMetric):
                raise TypeError(
                    'DenseProbeValLoop runs DenseProbeMetric evaluators '
                    f'only; got {type(metric).__name__}')
        self.evaluator = evaluator

    def run(self) -> Dict[str, float]:
        """Probe the model and log the scores.

        Returns:
            dict[str, float]: The metrics, ``{prefix}/<probe>_<score>``.
        """
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        for metric in self.evaluator.metrics:
            # Every process hands over one dict, so the cross-process
            # collection of the evaluator pairs up; only the main process
            # probes (the probes make no collective call).
            scores = metric.score_model(
                self.runner.model) if is_main_process() else {}
            metric.process(None, [scores])
        metrics = self.evaluator.evaluate(1)
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics
