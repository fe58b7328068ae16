"""Write a toy scenes data set to disk: render every image in worker
processes, save the PNGs and the COCO instances json, and guard the folder
with a file lock and a ``meta.json`` written last."""
import contextlib
import fcntl
import json
import multiprocessing as mp
import os
import os.path as osp
import shutil
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
from PIL import Image

from .appearance import TOYSCENES_CLASSES, TOYSCENES_PALETTE
from .render import (GENERATOR_VERSION, MIN_VISIBLE_AREA, SPLIT_IDS,
                     TEST_SEED_OFFSET, Scene, render_scene)

__all__ = [
    'META_FILE', 'LOCK_FILE', 'ToyScenesMismatchError', 'generate_toyscenes',
    'ensure_toyscenes'
]

META_FILE = 'meta.json'
LOCK_FILE = '.toyscenes.lock'


def _coco_annotations(scene: Scene) -> List[dict]:
    """COCO annotation dicts (without ids) of the visible instances."""
    from pycocotools import mask as mask_utils

    anns = []
    for k, category in enumerate(scene.categories):
        mask = scene.instance_map == k + 1
        ys, xs = np.nonzero(mask)
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        # json cannot hold bytes; pycocotools accepts str counts back.
        rle['counts'] = rle['counts'].decode('ascii')
        x0, y0 = int(xs.min()), int(ys.min())
        anns.append(
            dict(
                category_id=int(category),
                bbox=[x0, y0,
                      int(xs.max()) - x0 + 1,
                      int(ys.max()) - y0 + 1],
                area=int(mask.sum()),
                iscrowd=0,
                segmentation=rle))
    return anns


def _file_name(index: int) -> str:
    return f'{index:06d}.png'


def _render_and_save(task: Tuple[str, str, int, int, int]) -> List[dict]:
    """Worker: render one scene, write its PNGs, return its annotations."""
    root, split, index, seed, img_size = task
    scene = render_scene(seed, split, index, img_size)
    name = _file_name(index)
    # compress_level=1: about 30% faster to write than the default level 6
    # for about 15% larger files (the grain noise barely compresses anyway).
    Image.fromarray(
        scene.image, mode='RGB').save(
            osp.join(root, split, 'images', name),
            format='PNG',
            compress_level=1)
    Image.fromarray(
        scene.semantic, mode='L').save(
            osp.join(root, split, 'semantic', name),
            format='PNG',
            compress_level=1)
    return _coco_annotations(scene)


# ---------------------------------------------------------------------------
# Writing a data set
# ---------------------------------------------------------------------------


def _write_json_atomic(path: str, obj: dict) -> None:
    """Write json to a temporary file and rename it: readers never see a
    partial file."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


def _map_ordered(func: Callable, tasks: list, num_workers: int,
                 progress_update: Optional[Callable[[], None]]) -> list:
    """``[func(t) for t in tasks]``, optionally in a process pool."""
    # A daemonic process (e.g. a DataLoader worker) may not have children.
    if num_workers <= 1 or mp.current_process().daemon or len(tasks) < 2:
        results = []
        for task in tasks:
            results.append(func(task))
            if progress_update:
                progress_update()
        return results
    # spawn, not fork: a forked child inherits the parent's locks but not
    # the threads holding them, and after torch has started its thread
    # pools a forked worker could wait forever on such a lock (seen: a test
    # suite hung here). Spawned workers import the package afresh, a few
    # seconds once per pool.
    method = 'spawn'
    chunksize = max(1, len(tasks) // (num_workers * 8))
    results = []
    with mp.get_context(method).Pool(num_workers) as pool:
        for result in pool.imap(func, tasks, chunksize=chunksize):
            results.append(result)
            if progress_update:
                progress_update()
    return results


def _coco_dict(split: str, num_images: int, img_size: int,
               per_image: List[List[dict]]) -> dict:
    """Assemble a COCO instances dict.

    Image ids equal the image index (the file stem); annotation ids start at
    1 because COCOeval treats id 0 as "unmatched".
    """
    images, annotations = [], []
    ann_id = 1
    for index in range(num_images):
        images.append(
            dict(
                id=index,
                file_name=_file_name(index),
                width=img_size,
                height=img_size))
        for ann in per_image[index]:
            annotations.append(dict(id=ann_id, image_id=index, **ann))
            ann_id += 1
    categories = [
        dict(id=k + 1, name=name, supercategory='shape')
        for k, name in enumerate(TOYSCENES_CLASSES)
    ]
    return dict(
        info=dict(
            description=f'toy scenes, {split} split',
            version=str(GENERATOR_VERSION)),
        images=images,
        annotations=annotations,
        categories=categories)


def _generate_unlocked(root: str, num_train: int, num_val: int,
                       num_test: int,
                       img_size: int, seed: int, num_workers: int,
                       progress: bool) -> dict:
    """Generate the data set; the caller holds the lock."""
    meta_path = osp.join(root, META_FILE)
    # Remove the "finished" marker first: if we crash, nobody trusts the rest.
    if osp.exists(meta_path):
        os.remove(meta_path)
    # Start from empty folders, or images from an earlier, larger generation
    # would be picked up by the folder scan of the pretraining dataset.
    for sub in (*SPLIT_IDS, 'annotations'):
        shutil.rmtree(osp.join(root, sub), ignore_errors=True)
    os.makedirs(osp.join(root, 'annotations'))
    for split in SPLIT_IDS:
        for sub in ('images', 'semantic'):
            os.makedirs(osp.join(root, split, sub))

    counts = {'train': num_train, 'val': num_val, 'test': num_test}
    tasks = [(root, split, i, seed, img_size) for split in SPLIT_IDS
             for i in range(counts[split])]
    update = None
    if progress and tasks:
        from mmengine.utils import ProgressBar
        update = ProgressBar(len(tasks)).update
    results = _map_ordered(_render_and_save, tasks, num_workers, update)
    if update:
        print()  # ProgressBar leaves the cursor at the end of its line

    stats = {}
    start = 0
    for split in SPLIT_IDS:
        per_image = results[start:start + counts[split]]
        start += counts[split]
        coco = _coco_dict(split, counts[split], img_size, per_image)
        _write_json_atomic(
            osp.join(root, 'annotations', f'instances_{split}.json'), coco)
        per_class = np.bincount(
            [a['category_id'] for a in coco['annotations']],
            minlength=len(TOYSCENES_CLASSES) + 1)[1:]
        stats[split] = dict(
            images=counts[split],
            instances=len(coco['annotations']),
            instances_per_class=dict(
                zip(TOYSCENES_CLASSES, (int(n) for n in per_class))))

    meta = dict(
        name='toyscenes',
        **_content(num_train, num_val, num_test, img_size, seed),
        test_seed=seed + TEST_SEED_OFFSET,
        min_visible_area=MIN_VISIBLE_AREA,
        classes=list(TOYSCENES_CLASSES),
        # Semantic maps use label 0 for background (reduce_zero_label=False),
        # so the segmentation classes and the palette include it.
        seg_classes=['background'] + list(TOYSCENES_CLASSES),
        palette=[list(c) for c in TOYSCENES_PALETTE],
        counts=stats,
        layout=dict(
            images='{split}/images/{index:06d}.png',
            semantic='{split}/semantic/{index:06d}.png',
            annotations='annotations/instances_{split}.json'))
    _write_json_atomic(meta_path, meta)  # last: marks the folder complete
    return meta


@contextlib.contextmanager
def _locked(root: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``root/.toyscenes.lock``.

    Only one process (e.g. one torchrun rank) generates; the others block
    here and then find the finished data. The lock file is left in place:
    deleting it would let a waiting process lock a file that is gone.
    """
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, LOCK_FILE), 'a') as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _content(num_train: int, num_val: int, num_test: int, img_size: int,
             seed: int) -> dict:
    """The parameters that define the content, as ``meta.json`` records
    them (an existing folder must match them), generator version first.

    Args:
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        num_test (int): Number of test images.
        img_size (int): Side of the square images in pixels.
        seed (int): Seed.

    Returns:
        dict: ``version``, ``seed``, ``img_size``, ``num_train``,
        ``num_val``, ``num_test``.
    """
    return dict(
        version=GENERATOR_VERSION,
        seed=seed,
        img_size=img_size,
        num_train=num_train,
        num_val=num_val,
        num_test=num_test)


def _check_args(num_train: int, num_val: int, num_test: int, img_size: int,
                seed: int) -> None:
    if seed < 0:
        # numpy's SeedSequence accepts non-negative integers only.
        raise ValueError(f'seed must be >= 0, got {seed}')
    if min(num_train, num_val, num_test) < 0:
        raise ValueError('num_train, num_val and num_test must be >= 0, got '
                         f'{num_train}, {num_val} and {num_test}')
    if img_size < 16:
        raise ValueError(f'img_size must be at least 16, got {img_size}')


def generate_toyscenes(root: str,
                       num_train: int = 2000,
                       num_val: int = 400,
                       num_test: int = 400,
                       img_size: int = 128,
                       seed: int = 0,
                       num_workers: int = 2,
                       progress: bool = True) -> dict:
    """Generate (or regenerate) the toy scenes data set under ``root``.

    Existing ``train/``, ``val/``, ``test/`` and ``annotations/`` folders
    under ``root`` are replaced. ``meta.json`` is written last; its absence
    means "not (completely) generated".

    Args:
        root (str): Output folder.
        num_train (int): Number of training images. Defaults to 2000.
        num_val (int): Number of validation images. Defaults to 400.
        num_test (int): Number of test images, drawn from
            ``seed + TEST_SEED_OFFSET``. Defaults to 400.
        img_size (int): Side of the square images in pixels.
            Defaults to 128.
        seed (int): Seed; image ``i`` depends only on (seed, split, i).
            Defaults to 0.
        num_workers (int): Worker processes; the output does not depend on
            it. Defaults to 2.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The content of ``meta.json``.
    """
    _check_args(num_train, num_val, num_test, img_size, seed)
    with _locked(root):
        return _generate_unlocked(root, num_train, num_val, num_test,
                                  img_size, seed, num_workers, progress)


class ToyScenesMismatchError(ValueError):
    """The toy scenes under a root were generated with other parameters."""


def _read_meta(root: str) -> Optional[dict]:
    path = osp.join(root, META_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _check_meta(root: str, meta: dict, wanted: dict) -> None:
    """Raise :class:`ToyScenesMismatchError` unless ``meta`` (read from
    ``root``) holds the ``wanted`` content parameters (:func:`_content`).

    Args:
        root (str): The data folder, for the message.
        meta (dict): Its ``meta.json``.
        wanted (dict): The requested content parameters.
    """
    diffs = [
        f'{key}={meta.get(key)!r} (requested {value!r})'
        for key, value in wanted.items() if meta.get(key) != value
    ]
    if diffs:
        raise ToyScenesMismatchError(
            f'The toy scenes in {root!r} were generated with different '
            f'parameters: {", ".join(diffs)}. Delete the folder to '
            'regenerate it, or choose another root.')


def ensure_toyscenes(root: str,
                     num_train: int = 2000,
                     num_val: int = 400,
                     num_test: int = 400,
                     img_size: int = 128,
                     seed: int = 0,
                     num_workers: int = 2,
                     progress: bool = True) -> dict:
    """Generate the toy scenes under ``root`` unless they are already there.

    Safe to call from several processes at once (torchrun ranks): a file
    lock lets one of them generate while the others wait.

    Args:
        root (str): Data folder.
        num_train (int): Number of training images. Defaults to 2000.
        num_val (int): Number of validation images. Defaults to 400.
        num_test (int): Number of test images, drawn from
            ``seed + TEST_SEED_OFFSET``. Defaults to 400.
        img_size (int): Side of the square images in pixels.
            Defaults to 128.
        seed (int): Seed. Defaults to 0.
        num_workers (int): Worker processes when generating. Defaults to 2.
        progress (bool): Show a progress bar when generating.
            Defaults to True.

    Returns:
        dict: The content of ``meta.json``.

    Raises:
        ToyScenesMismatchError: (a ``ValueError``) if ``root`` holds toy
            scenes generated with other parameters or another generator
            version.
    """
    _check_args(num_train, num_val, num_test, img_size, seed)
    wanted = _content(num_train, num_val, num_test, img_size, seed)
    meta = _read_meta(root)
    if meta is None:
        with _locked(root):
            # Another process may have finished while we waited.
            meta = _read_meta(root)
            if meta is None:
                return _generate_unlocked(root, num_train, num_val, num_test,
                                          img_size, seed, num_workers,
                                          progress)
    _check_meta(root, meta, wanted)
    return meta
