"""The dense probes as a validation evaluator of a pretraining run."""
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from torch import nn

from dense_contrast.registry import METRICS

from .dense_probes import DenseProbeSuite

__all__ = ['DenseProbeMetric']


@METRICS.register_module()
class DenseProbeMetric(BaseMetric):
    """Dense probes of the pretrained backbone as an mmengine metric.

    A self-supervised model has no prediction to compare with labels, so
    the metric scores the model itself: :class:`DenseProbeValLoop`
    (``val_cfg = dict(type='DenseProbeValLoop')``) calls
    :meth:`score_model` with the model on the main process and hands the
    scores to :meth:`process`; :meth:`evaluate` returns them as
    ``{prefix}/<probe>_mIoU`` etc., and mmengine logs them as validation
    metrics (text log, json log, vis backends, and ``save_best`` of the
    checkpoint hook can use them)::

        val_cfg = dict(type='DenseProbeValLoop')
        val_dataloader = dict()  # mmengine wants one; the loop reads none
        val_evaluator = dict(
            type='DenseProbeMetric',
            train_dataset=dict(type='PascalVOCDataset', ...),
            val_dataset=dict(type='PascalVOCDataset', ...),
            num_train=500, num_val=200,
            probes=[dict(type='DenseLinearProbe'),
                    dict(type='DenseRetrievalProbe')])

    Args:
        data_root (str, optional): Toy scenes folder; or give
            ``train_dataset`` and ``val_dataset`` (mmseg dataset configs).
            Defaults to None.
        probes (Sequence[dict], optional): Probe configs. Defaults to None:
            :class:`DenseProbeSuite`'s (linear + k-NN).
        prefix (str): Prefix of the metric names. Defaults to 'probe'.
        collect_device (str): Device of the cross-process collection.
            Defaults to 'cpu'.
        **suite_kwargs: Other arguments of :class:`DenseProbeSuite`
            (``train_dataset``, ``val_dataset``, ``crop_size``,
            ``num_train``, ``num_val``, ``num_classes``, ``stage``,
            ``img_scale``, ``batch_size``, ...).
    """

    default_prefix = 'probe'

    def __init__(self,
                 data_root: Optional[str] = None,
                 probes: Optional[Sequence[dict]] = None,
                 prefix: str = 'probe',
                 collect_device: str = 'cpu',
                 **suite_kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if probes is not None:
            suite_kwargs['probes'] = probes
        self.suite = DenseProbeSuite(data_root, **suite_kwargs)

    def score_model(self, model: nn.Module) -> Dict[str, float]:
        """Run the probes on a model's backbone.

        Args:
            model (nn.Module): The pretraining model (wrapped or not).

        Returns:
            dict[str, float]: The scores, without prefix.
        """
        return self.suite.score_model(model)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep the score dicts handed over by :class:`DenseProbeValLoop`.

        Args:
            data_batch (Any): Not used.
            data_samples (Sequence[dict]): Score dicts of one model (empty
                on the processes that do not probe).

        Raises:
            TypeError: If a sample is not a dict of scores (the metric was
                put under a loop that feeds model predictions).
        """
        for sample in data_samples:
            if not isinstance(sample, dict) or not all(
                    isinstance(v, float) for v in sample.values()):
                raise TypeError(
                    'DenseProbeMetric scores the model, not its '
                    'predictions: use it with val_cfg = '
                    "dict(type='DenseProbeValLoop'); got a sample of type "
                    f'{type(sample).__name__}')
            self.results.append(dict(sample))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Merge the score dicts.

        Args:
            results (list[dict]): What :meth:`process` kept, from every
                process.

        Returns:
            dict[str, float]: The scores.
        """
        merged: Dict[str, float] = {}
        for result in results:
            merged.update(result)
        return merged
