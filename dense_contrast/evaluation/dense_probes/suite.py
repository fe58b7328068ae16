"""The probe suite: score a backbone with several dense probes on two
labelled splits read once."""
import json
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor, nn

from dense_contrast.registry import METRICS

from .features import extract_dense_features, load_segmentation_split

__all__ = ['DenseProbeSuite']


def _num_classes_from_meta(data_root: str) -> int:
    meta_path = osp.join(data_root, 'meta.json')
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if 'seg_classes' in meta:
            return len(meta['seg_classes'])
    raise ValueError(
        f'DenseProbeSuite: num_classes not given and {meta_path!r} has no '
        "'seg_classes' list; pass num_classes")


class DenseProbeSuite:
    """Score backbones with dense probes on two labelled splits.

    The splits are read once, on the first call, and kept in memory (uint8
    images and labels). Each call extracts the features of both splits and
    runs every probe on them.

    Args:
        data_root (str): Data folder (see :func:`load_segmentation_split`).
        probes (Sequence[dict]): Probe configs built from
            :data:`dense_contrast.registry.METRICS`; ``num_classes`` is
            filled in when absent (for probes that read labels; a
            :class:`DenseCorrespondenceProbe` gets the evaluation images).
            Defaults to a linear and a k-NN probe.
        train_split (str): Split the probes fit on. Defaults to 'train'.
        val_split (str): Split they are scored on. Defaults to 'val'.
        num_train (int, optional): Images of ``train_split`` used.
            Defaults to 200.
        num_val (int, optional): Images of ``val_split`` used.
            Defaults to 100.
        num_classes (int, optional): Classes (background included).
            Defaults to None: the length of ``seg_classes`` in
            ``{data_root}/meta.json``.
        stage (int, optional): Backbone stage probed. Defaults to None (the
            backbone's last output).
        img_scale (int, optional): Resize images to this side before the
            backbone. Defaults to None.
        batch_size (int): Images per forward. Defaults to 32.
    """

    def __init__(self,
                 data_root: str,
                 probes: Sequence[dict] = (dict(type='DenseLinearProbe'),
                                           dict(type='DenseKNNProbe')),
                 train_split: str = 'train',
                 val_split: str = 'val',
                 num_train: Optional[int] = 200,
                 num_val: Optional[int] = 100,
                 num_classes: Optional[int] = None,
                 stage: Optional[int] = None,
                 img_scale: Optional[int] = None,
                 batch_size: int = 32) -> None:
        self.data_root = data_root
        self.probe_cfgs = [dict(cfg) for cfg in probes]
        if not self.probe_cfgs:
            raise ValueError('DenseProbeSuite: probes is empty')
        self.train_split = train_split
        self.val_split = val_split
        self.num_train = num_train
        self.num_val = num_val
        self.num_classes = num_classes
        self.stage = stage
        self.img_scale = img_scale
        self.batch_size = batch_size
        self._data: Optional[Tuple[Tensor, Tensor, Tensor, Tensor]] = None
        self._probes: Optional[list] = None

    def _load(self) -> None:
        if self.num_classes is None:
            self.num_classes = _num_classes_from_meta(self.data_root)
        train_imgs, train_labels, _ = load_segmentation_split(
            self.data_root, self.train_split, self.num_train)
        val_imgs, val_labels, _ = load_segmentation_split(
            self.data_root, self.val_split, self.num_val)
        self._data = (train_imgs, train_labels, val_imgs, val_labels)
        self._probes = []
        for cfg in self.probe_cfgs:
            if getattr(METRICS.get(cfg['type']), 'needs_labels', True):
                cfg = {'num_classes': self.num_classes, **cfg}
            self._probes.append(METRICS.build(cfg))

    def __call__(self,
                 backbone: nn.Module,
                 mean: Sequence[float],
                 std: Sequence[float],
                 bgr: bool = False) -> Dict[str, float]:
        """Probe a backbone.

        Args:
            backbone (nn.Module): The backbone (left unchanged).
            mean (Sequence[float]): Normalisation mean of its inputs.
            std (Sequence[float]): Normalisation std of its inputs.
            bgr (bool): Whether it expects BGR input (images are read as
                RGB). Defaults to False.

        Returns:
            dict[str, float]: The results of every probe, merged.
        """
        if self._data is None:
            self._load()
        train_imgs, train_labels, val_imgs, val_labels = self._data
        order = [2, 1, 0] if bgr else [0, 1, 2]
        extract = dict(
            mean=mean,
            std=std,
            stage=self.stage,
            img_scale=self.img_scale,
            batch_size=self.batch_size)
        train_feats = extract_dense_features(backbone,
                                             train_imgs[:, order], **extract)
        val_feats = extract_dense_features(backbone, val_imgs[:, order],
                                           **extract)
        results: Dict[str, float] = {}
        for probe in self._probes:
            if getattr(probe, 'needs_labels', True):
                results.update(
                    probe(train_feats, train_labels, val_feats, val_labels))
            else:  # e.g. DenseCorrespondenceProbe: views of the val images
                results.update(
                    probe(backbone, val_imgs[:, order], mean, std,
                          stage=self.stage, batch_size=self.batch_size))
        return results
