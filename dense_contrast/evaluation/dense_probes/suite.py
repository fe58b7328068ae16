"""The probe suite: score a backbone with several dense probes on two
labelled splits read once."""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from dense_contrast.registry import METRICS

from .features import extract_dense_features, load_segmentation_split
from .mmseg_data import load_mmseg_split

__all__ = ['DenseProbeSuite', 'model_inputs']


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


def model_inputs(
        model: nn.Module) -> Tuple[nn.Module, List[float], List[float], bool]:
    """What the probes need of a pretraining model: its backbone and the
    input normalisation of its data preprocessor.

    Args:
        model (nn.Module): A model with ``backbone`` and
            ``data_preprocessor`` (wrapped or not).

    Returns:
        tuple: The backbone, the normalisation mean and std (identity when
        the preprocessor does not normalise) and whether the backbone sees
        BGR images.

    Raises:
        AttributeError: If the model has no ``backbone``.
    """
    model = model.module if is_model_wrapper(model) else model
    if not hasattr(model, 'backbone'):
        raise AttributeError(
            f'dense probes: the model ({type(model).__name__}) has no '
            '`backbone` attribute to probe')
    preprocessor = model.data_preprocessor
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if mean is None or not getattr(preprocessor, '_enable_normalize', True):
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    else:
        mean, std = mean.flatten().tolist(), std.flatten().tolist()
    # Images are loaded as BGR by mmcv; the preprocessor's to_rgb makes the
    # model see RGB. The probes read RGB, so they flip only when the model
    # sees BGR. Both are private attributes of mmengine's
    # ImgDataPreprocessor, which has no public accessor for them.
    bgr = not getattr(preprocessor, '_channel_conversion', False)
    return model.backbone, mean, std, bgr


class DenseProbeSuite:
    """Score backbones with dense probes on two labelled splits.

    The splits are read once, on the first call, and kept in memory (uint8
    images and labels). Each call extracts the features of both splits and
    runs every probe on them.

    Data comes either from a toy scenes folder (``data_root``, see
    :func:`load_segmentation_split`: one image size per split) or from two
    mmseg datasets (``train_dataset`` and ``val_dataset``, see
    :func:`~.mmseg_data.load_mmseg_split`: VOC, ADE20K, Cityscapes,
    COCO-Stuff or any ``BaseSegDataset``, resized and centre-cropped to
    ``crop_size``).

    Memory, for N images of a split read as S x S and a feature map of C
    channels on an h x w grid: ``4 * N * S**2`` bytes of images and labels
    and ``4 * N * C * h * w`` bytes of features per split; the linear probe
    adds about three times the fitting split's features, the k-NN vote
    ``4 * chunk_size * M`` bytes for a bank of M rows.

    Args:
        data_root (str, optional): Toy scenes folder. Defaults to None
            (then both datasets are needed).
        probes (Sequence[dict]): Probe configs built from
            :data:`dense_contrast.registry.METRICS`; ``num_classes`` is
            filled in when absent (for probes that read labels; a
            :class:`DenseCorrespondenceProbe` gets the evaluation images,
            a :class:`DenseRetrievalProbe` also the backbone and the
            fitting images). Defaults to a linear and a k-NN probe.
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
        train_dataset (dict, optional): mmseg dataset config of the fitting
            split (its pipeline is replaced). Defaults to None.
        val_dataset (dict, optional): mmseg dataset config of the
            evaluation split. Defaults to None.
        crop_size (int): Side of the images read from mmseg datasets.
            Defaults to 224.

    Raises:
        ValueError: Unless exactly one of ``data_root`` and the pair of
            datasets is given.
    """

    def __init__(self,
                 data_root: Optional[str] = None,
                 probes: Sequence[dict] = (dict(type='DenseLinearProbe'),
                                           dict(type='DenseKNNProbe')),
                 train_split: str = 'train',
                 val_split: str = 'val',
                 num_train: Optional[int] = 200,
                 num_val: Optional[int] = 100,
                 num_classes: Optional[int] = None,
                 stage: Optional[int] = None,
                 img_scale: Optional[int] = None,
                 batch_size: int = 32,
                 train_dataset: Optional[Dict[str, Any]] = None,
                 val_dataset: Optional[Dict[str, Any]] = None,
                 crop_size: int = 224) -> None:
        has_datasets = train_dataset is not None and val_dataset is not None
        if (data_root is None) == (not has_datasets) or \
                (train_dataset is None) != (val_dataset is None):
            raise ValueError(
                'DenseProbeSuite: give either data_root (toy scenes layout) '
                'or both train_dataset and val_dataset (mmseg dataset '
                f'configs); got data_root={data_root!r}, train_dataset='
                f'{train_dataset}, val_dataset={val_dataset}')
        self.data_root = data_root
        self.train_dataset = train_dataset
        self.val_dataset = val_dataset
        self.crop_size = crop_size
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
        if self.data_root is None:
            train_imgs, train_labels, _, dataset_classes = load_mmseg_split(
                self.train_dataset, self.num_train, self.crop_size)
            val_imgs, val_labels, _, _ = load_mmseg_split(
                self.val_dataset, self.num_val, self.crop_size)
            if self.num_classes is None:
                if dataset_classes is None:
                    raise ValueError(
                        'DenseProbeSuite: num_classes not given and the '
                        f'dataset {self.train_dataset.get("type")} names no '
                        'classes in its metainfo; pass num_classes')
                self.num_classes = dataset_classes
        else:
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
            if not getattr(probe, 'needs_labels', True):
                # e.g. DenseCorrespondenceProbe: views of the val images
                results.update(
                    probe(backbone, val_imgs[:, order], mean, std,
                          stage=self.stage, batch_size=self.batch_size))
            elif getattr(probe, 'needs_backbone', False):
                # e.g. DenseRetrievalProbe: augmented train images
                results.update(
                    probe(backbone, train_imgs[:, order], train_labels,
                          val_feats, val_labels, mean, std,
                          stage=self.stage, img_scale=self.img_scale,
                          batch_size=self.batch_size))
            else:
                results.update(
                    probe(train_feats, train_labels, val_feats, val_labels))
        return results

    def score_model(self, model: nn.Module) -> Dict[str, float]:
        """Probe the backbone of a pretraining model under the input
        normalisation of its data preprocessor (:func:`model_inputs`).

        Args:
            model (nn.Module): The model (wrapped or not; left unchanged).

        Returns:
            dict[str, float]: The results of every probe, merged.
        """
        backbone, mean, std, bgr = model_inputs(model)
        return self(backbone, mean, std, bgr=bgr)
