"""The pretraining dataset of the toy scenes, generated on first use."""
import os.path as osp

from mmpretrain.datasets import CustomDataset

from dense_contrast.registry import DATASETS

from .generate import ensure_toyscenes
from .render import SPLIT_IDS

__all__ = ['ToyScenesDataset']


@DATASETS.register_module()
class ToyScenesDataset(CustomDataset):
    """Unlabelled toy scenes images for self-supervised pretraining.

    A flat folder ``<data_root>/<split>/images`` read by mmpretrain's
    :class:`CustomDataset` with ``with_label=False``. The images are
    generated on first use (see :func:`ensure_toyscenes`), so a config such
    as ``dict(type='ToyScenesDataset', data_root='data/toyscenes',
    split='train', pipeline=[...])`` works on a fresh clone.

    Args:
        data_root (str): Folder of the generated data.
            Defaults to 'data/toyscenes'.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            'train'.
        num_train (int): Number of training images to generate.
            Defaults to 2000.
        num_val (int): Number of validation images to generate.
            Defaults to 400.
        num_test (int): Number of test images to generate. Defaults to 400.
        img_size (int): Side of the square images in pixels.
            Defaults to 128.
        seed (int): Seed of the generator. Defaults to 0.
        num_workers (int): Processes used when generating. Defaults to 2.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.CustomDataset`
            (``pipeline``, ``lazy_init``, ``test_mode`` ...), except
            ``data_prefix`` and ``with_label`` which this class sets.
    """

    def __init__(self,
                 data_root: str = 'data/toyscenes',
                 split: str = 'train',
                 num_train: int = 2000,
                 num_val: int = 400,
                 num_test: int = 400,
                 img_size: int = 128,
                 seed: int = 0,
                 num_workers: int = 2,
                 **kwargs) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(
                f'split must be one of {tuple(SPLIT_IDS)}, got {split!r}')
        for key in ('data_prefix', 'with_label'):
            if key in kwargs:
                raise TypeError(f'ToyScenesDataset sets {key!r} itself')
        self.split = split
        # Before the parent scans the folder, which must then exist.
        self.toyscenes_meta = ensure_toyscenes(
            data_root,
            num_train=num_train,
            num_val=num_val,
            num_test=num_test,
            img_size=img_size,
            seed=seed,
            num_workers=num_workers)
        super().__init__(
            data_root=data_root,
            data_prefix=osp.join(split, 'images'),
            with_label=False,
            **kwargs)
