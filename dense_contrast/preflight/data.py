"""Check the training data: the data root exists and is not empty, images
decode, and the dataset holds at least one global batch."""
import inspect
import os
import os.path as osp
from typing import Any, Iterator, Optional, Sequence

from mmengine.config import Config

from .errors import ConfigValidationError

__all__ = ['check_train_data']

# Images tried before an image folder is declared unreadable.
_MAX_DECODE_TRIES = 16


def _is_subclass(cls: Any, name: str) -> bool:
    return inspect.isclass(cls) and any(k.__name__ == name
                                        for k in cls.__mro__)


def _walk_images(folder: str, extensions: Sequence[str]) -> Iterator[str]:
    """Yield image files under ``folder`` (any depth), lazily."""
    extensions = tuple(e.lower() for e in extensions)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(extensions):
                yield osp.join(dirpath, name)


def _decodes(path: str) -> Optional[str]:
    """None when ``path`` decodes as an image, else the reason."""
    import mmcv
    try:
        with open(path, 'rb') as f:
            img = mmcv.imfrombytes(f.read())
    except Exception as err:  # noqa: BLE001
        return f'{type(err).__name__}: {err}'
    return None if img is not None else 'not a decodable image'


def _scan_folder(folder: str, extensions: Sequence[str], needed: int,
                 what: str) -> int:
    """Count images (up to ``needed``) and make sure one of them decodes.

    Args:
        folder (str): The image folder.
        extensions (Sequence[str]): File name endings that count as images.
        needed (int): Stop counting at this number.
        what (str): How to name the folder in messages.

    Returns:
        int: ``min(number of images, needed)``.

    Raises:
        ConfigValidationError: If there is no image file, or none of the
            first ones decodes.
    """
    count, tried, readable, failures = 0, 0, False, []
    for path in _walk_images(folder, extensions):
        count += 1
        if not readable and tried < _MAX_DECODE_TRIES:
            tried += 1
            reason = _decodes(path)
            readable = reason is None
            if reason:
                failures.append(f'{path} ({reason})')
        if count >= needed and (readable or tried >= _MAX_DECODE_TRIES):
            break
    if count == 0:
        raise ConfigValidationError(
            f'{what} {folder!r} holds no image files (looked for '
            f'{", ".join(extensions)} at any depth).')
    if not readable:
        raise ConfigValidationError(
            f'{what} {folder!r} has no readable images: none of the first '
            f'{tried} image files decodes, e.g. {failures[0]}.')
    return count


def _check_root(data_root: str, where: str) -> None:
    if not data_root:
        return
    if not osp.isdir(data_root):
        raise ConfigValidationError(
            f'{where}.data_root: the data root {data_root!r} does not exist '
            f'(expected a folder of images; working directory {os.getcwd()}).'
        )
    with os.scandir(data_root) as entries:
        if next(entries, None) is None:
            raise ConfigValidationError(
                f'{where}.data_root: the data root {data_root!r} is empty '
                '(expected a folder of images).')


def _dataset_size(dataset_cfg: dict, where: str, needed: int) -> Optional[int]:
    """Size of a training dataset (at most ``needed``), after checking its
    folders; None for dataset types this cannot judge."""
    from dense_contrast.registry import DATASETS
    cls = DATASETS.get(dataset_cfg.get('type', ''))
    if _is_subclass(cls, 'ToyScenesDataset'):
        # Generated on first use: the root may not exist yet.
        params = inspect.signature(cls.__init__).parameters
        split = dataset_cfg.get('split', params['split'].default)
        key = 'num_train' if split == 'train' else 'num_val'
        return int(dataset_cfg.get(key, params[key].default))
    if not _is_subclass(cls, 'BaseDataset'):
        return None
    _check_root(dataset_cfg.get('data_root', ''), where)
    kwargs = {
        k: v
        for k, v in dataset_cfg.items() if k not in ('type', '_scope_')
    }
    kwargs.update(pipeline=[], lazy_init=True)
    try:
        dataset = cls(**kwargs)
    except Exception as err:  # noqa: BLE001
        raise ConfigValidationError(
            f'{where}: cannot set up {cls.__name__} from '
            f'{dataset_cfg.get("data_root", "")!r}: '
            f'{type(err).__name__}: {err}') from err
    ann_file = getattr(dataset, 'ann_file', '')
    prefix = getattr(dataset, 'data_prefix', {}) or {}
    img_dir = prefix.get('img_path', '') or prefix.get('img', '')
    if ann_file and osp.isfile(ann_file):
        with open(ann_file) as f:
            lines = [line.split()[0] for line in f if line.strip()]
        if not lines:
            raise ConfigValidationError(
                f'{where}.ann_file: {ann_file!r} lists no images.')
        sample = [osp.join(img_dir, name) for name in lines[:_MAX_DECODE_TRIES]]
        reasons = [r for r in map(_decodes, sample) if r]
        if len(reasons) == len(sample):
            raise ConfigValidationError(
                f'{where}: none of the first {len(sample)} images listed in '
                f'{ann_file!r} is readable, e.g. {sample[0]} ({reasons[0]}).')
        return len(lines)
    if not img_dir:
        return None
    if not osp.isdir(img_dir):
        raise ConfigValidationError(
            f'{where}: the image folder {img_dir!r} does not exist '
            '(data_root joined with data_prefix).')
    extensions = getattr(dataset, 'extensions', None) or (
        '.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')
    return _scan_folder(
        osp.normpath(img_dir), extensions, needed, 'the image folder')


def _after_indices(size: Optional[int], indices: Any,
                   where: str) -> Optional[int]:
    """The images a dataset yields once mmengine applies ``indices``.

    Args:
        size (int, optional): Images found (None when unknown).
        indices (int or Sequence[int], optional): The dataset's ``indices``
            setting: the first ``indices`` images, or these images.
        where (str): The dataset's dotted config key, for messages.

    Returns:
        int, optional: ``size`` without ``indices``, ``min(size, indices)``
        for an int, ``len(indices)`` for a sequence; None when ``size`` is
        unknown and ``indices`` is not a sequence.

    Raises:
        ConfigValidationError: If ``indices`` is neither an int nor a
            sequence of ints.
    """
    if indices is None:
        return size
    if isinstance(indices, int) and not isinstance(indices, bool):
        return None if size is None else min(size, indices)
    if isinstance(indices, (list, tuple)):
        return len(indices)
    raise ConfigValidationError(
        f'{where}.indices: expected an int (the first N images) or a list '
        f'of image indices, got {type(indices).__name__} {indices!r}.')


def check_train_data(cfg: Config,
                     world_size: int = 1,
                     count_up_to: int = 0) -> Optional[int]:
    """Check the training data root, images and size against the batch.

    Args:
        cfg (Config): The merged config.
        world_size (int): Number of processes. Defaults to 1.
        count_up_to (int): Count images of a plain image folder up to at
            least this number (the folder scan otherwise stops after one
            global batch). Defaults to 0.

    Returns:
        int, optional: Images of one epoch (the dataset's length after its
        ``indices``), at most ``max(global batch, count_up_to)`` for an image
        folder; None when the dataset type cannot be judged.

    Raises:
        ConfigValidationError: On a missing or empty data root, a folder
            without readable images, fewer images than one global batch, or
            a malformed ``indices``.
    """
    loader = cfg.get('train_dataloader')
    if not isinstance(loader, dict) or not isinstance(
            loader.get('dataset'), dict):
        return None
    batch = loader.get('batch_size', 1)
    needed = batch * world_size
    where = 'train_dataloader.dataset'
    size = _after_indices(
        _dataset_size(loader['dataset'], where, max(needed, count_up_to)),
        loader['dataset'].get('indices'), where)
    if size is not None and size < needed:
        procs = f' x {world_size} processes' if world_size > 1 else ''
        raise ConfigValidationError(
            f'train_dataloader.batch_size={batch}{procs} needs {needed} '
            f'images per step, but the training dataset has only {size}: '
            f'set train_dataloader.batch_size to at most '
            f'{max(size // world_size, 1)}.')
    return size
