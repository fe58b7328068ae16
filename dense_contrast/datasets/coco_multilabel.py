"""Multi-label image classification from a COCO instances json."""
import json
import os.path as osp
from typing import Dict, List, Optional, Union

from mmpretrain.datasets import MultiLabelDataset

from dense_contrast.registry import DATASETS

#: The keys of a COCO instances json that the dataset reads.
REQUIRED_KEYS = ('images', 'annotations', 'categories')


def coco_image_labels(coco: dict,
                      classes: Optional[List[str]] = None,
                      include_crowd: bool = True,
                      source: str = 'the json') -> Dict[int, List[int]]:
    """The classes present in every image of a COCO instances json.

    Args:
        coco (dict): The parsed json, with ``images`` (``id``),
            ``annotations`` (``image_id``, ``category_id``, optional
            ``iscrowd``) and ``categories`` (``id``, ``name``).
        classes (list[str], optional): Class names, in label order; each
            must be a category name of the json. Categories outside them
            are ignored. Defaults to None: every category, by increasing
            id.
        include_crowd (bool): Whether ``iscrowd=1`` annotations count (a
            crowd of people still shows the class). Defaults to True.
        source (str): How to name the json in errors. Defaults to
            'the json'.

    Returns:
        dict[int, list[int]]: Image id -> sorted label indices (into
        ``classes``), for every image of ``images`` (empty lists for
        images without annotations of the classes).

    Raises:
        ValueError: If a key is missing, ``classes`` names a category the
            json does not have, or an annotation names an unknown image or
            category.
    """
    for key in REQUIRED_KEYS:
        if key not in coco:
            raise ValueError(f'{source} has no {key!r}: expected a COCO '
                             f'instances json with keys {REQUIRED_KEYS}')
    by_name = {}
    for cat in coco['categories']:
        if 'id' not in cat or 'name' not in cat:
            raise ValueError(f'{source}: category {cat} needs "id" and '
                             '"name"')
        by_name[cat['name']] = cat['id']
    if classes is None:
        classes = [c['name'] for c in
                   sorted(coco['categories'], key=lambda c: c['id'])]
    missing = [name for name in classes if name not in by_name]
    if missing:
        raise ValueError(f'{source}: classes {missing} are not among its '
                         f'categories {sorted(by_name)}')
    label_of = {by_name[name]: i for i, name in enumerate(classes)}
    known_categories = set(by_name.values())
    labels = {image['id']: set() for image in coco['images']}
    for ann in coco['annotations']:
        image_id, category = ann.get('image_id'), ann.get('category_id')
        if image_id not in labels:
            raise ValueError(f'{source}: annotation {ann.get("id")} names '
                             f'image_id {image_id}, which is not in '
                             '"images"')
        if category not in known_categories:
            raise ValueError(f'{source}: annotation {ann.get("id")} names '
                             f'category_id {category}, which is not in '
                             '"categories"')
        if ann.get('iscrowd', 0) and not include_crowd:
            continue
        if category in label_of:
            labels[image_id].add(label_of[category])
    return {image_id: sorted(found) for image_id, found in labels.items()}


@DATASETS.register_module()
class CocoMultiLabel(MultiLabelDataset):
    """Multi-label classification on images annotated in a COCO instances
    json (COCO, or the toy scenes' ``annotations/instances_<split>.json``).

    An image's labels are the categories of its annotations: the multi-label
    COCO benchmark (80 classes; mAP over classes, with CP/CR/CF1 and
    OP/OR/OF1 from mmpretrain's ``MultiLabelMetric``). Samples are
    ``dict(img_path, gt_label)`` as in :class:`MultiLabelDataset`, so
    mmpretrain's ``ClsDataPreprocessor(to_onehot=True)``,
    ``MultiLabelLinearClsHead`` and ``AveragePrecision`` apply unchanged.

    Args:
        ann_file (str): The instances json (relative to ``data_root``).
        data_root (str): Root of ``ann_file`` and ``data_prefix``.
            Defaults to ''.
        data_prefix (str or dict): Folder of the images (``img_path``),
            which the json's ``file_name`` is relative to. Defaults to ''.
        metainfo (dict, optional): ``classes`` gives the label order and
            subset (category names of the json). Defaults to None: every
            category of the json, by increasing id.
        include_crowd (bool): Whether crowd annotations count.
            Defaults to True.
        keep_unlabelled (bool): Whether images without any annotation of
            the classes are kept (with no label). Defaults to False (the
            multi-label COCO benchmark leaves them out).
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``
            (``pipeline``, ``indices``, ``test_mode``, ...).

    Examples:
        >>> dataset = CocoMultiLabel(
        ...     ann_file='annotations/instances_val2017.json',
        ...     data_root='data/coco/', data_prefix='val2017/')
    """

    def __init__(self,
                 ann_file: str,
                 data_root: str = '',
                 data_prefix: Union[str, dict] = '',
                 metainfo: Optional[dict] = None,
                 include_crowd: bool = True,
                 keep_unlabelled: bool = False,
                 **kwargs) -> None:
        self.include_crowd = include_crowd
        self.keep_unlabelled = keep_unlabelled
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            metainfo=metainfo,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the json: one sample per image with its label indices.

        Returns:
            list[dict]: ``dict(img_path, gt_label)`` per image, in the
            json's order.

        Raises:
            FileNotFoundError: If the json is missing.
            ValueError: If it is not a COCO instances json (see
                :func:`coco_image_labels`).
        """
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: no annotation file {self.ann_file} '
                '(a COCO instances json)')
        with open(self.ann_file) as f:
            coco = json.load(f)
        classes = self._metainfo.get('classes')
        labels = coco_image_labels(
            coco,
            None if classes is None else list(classes),
            self.include_crowd,
            source=self.ann_file)
        if classes is None:
            self._metainfo['classes'] = tuple(
                c['name']
                for c in sorted(coco['categories'], key=lambda c: c['id']))
        data_list = []
        for image in coco['images']:
            if 'file_name' not in image:
                raise ValueError(f'{self.ann_file}: image {image["id"]} has '
                                 'no "file_name"')
            gt_label = labels[image['id']]
            if not gt_label and not self.keep_unlabelled:
                continue
            data_list.append(
                dict(
                    img_path=osp.join(self.img_prefix, image['file_name']),
                    gt_label=gt_label))
        return data_list
