"""Extract the backbone of a pretraining checkpoint for downstream tasks.

A pretraining checkpoint holds the whole self-supervised model (backbone,
momentum encoder ``encoder_k``, neck, head, queues) plus the training state
(``meta``, ``message_hub``, ``optimizer``, ...). Detection and segmentation
only need the backbone, and they load it with ``torch.load`` under
``weights_only=True`` without this project installed. So the output holds
tensors only, keyed like the backbone's own ``state_dict`` (``conv1.weight``,
``bn1.running_mean``, ``layer1.0.conv1.weight``, ...), which is what
``init_cfg=dict(type='Pretrained', checkpoint=...)`` of mmdet's and mmseg's
``ResNet`` expects.
"""
import ast
import hashlib
import logging
import os
import os.path as osp
import pickle
import re
from typing import Callable, Dict, List, Optional, Union

import torch
from mmengine.logging import print_log

from .checkpoint import register_safe_globals

__all__ = [
    'load_checkpoint_safely', 'get_model_state_dict', 'select_submodule',
    'build_extract_meta', 'extract_backbone_weights', 'pretrained_init_cfg',
    'sha256sum', 'top_level_names', 'DEFAULT_PREFIX', 'DETECTOR_KEY_MAP',
    'extract_detector_weights', 'shift_fpn_levels', 'algorithm_from_cfg_text'
]

DEFAULT_PREFIX = 'backbone.'

# Keys of an mmengine training checkpoint besides ``state_dict``; their
# presence tells a training checkpoint from a plain state dict.
_TRAINING_KEYS = ('meta', 'message_hub', 'optimizer', 'param_schedulers')


def _normalise_prefix(prefix: str) -> str:
    """Make sure a module prefix ends with a dot.

    Without the dot, ``backbone`` would also match e.g. ``backbone2.*``.

    Args:
        prefix (str): A module path such as ``'backbone'`` or
            ``'backbone.'``.

    Returns:
        str: The prefix ending with ``'.'``.

    Raises:
        ValueError: If ``prefix`` is empty or only dots.
    """
    prefix = prefix.strip()
    if not prefix.strip('.'):
        raise ValueError('The prefix must name a submodule, e.g. '
                         f'{DEFAULT_PREFIX!r}; got {prefix!r}.')
    return prefix if prefix.endswith('.') else prefix + '.'


def sha256sum(path: str, chunk_size: int = 1 << 20) -> str:
    """Hash a file without reading it into memory at once.

    Args:
        path (str): The file.
        chunk_size (int): Bytes read per step. Defaults to 1 MiB.

    Returns:
        str: The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint_safely(path: str) -> dict:
    """Load a checkpoint with ``weights_only=True``.

    The project's safe globals are registered first, so checkpoints written
    with ``SafeCheckpointHook`` load; anything else that is not a tensor,
    builtin or allowlisted class is refused without being executed.

    Args:
        path (str): The checkpoint file.

    Returns:
        dict: The loaded object (a training checkpoint or a state dict).

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        pickle.UnpicklingError: If the file needs globals that are not
            allowlisted; the message names them.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Input checkpoint not found: {path}')
    register_safe_globals()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # noqa: BLE001  (only used to improve the message)
            unsafe = []
        raise pickle.UnpicklingError(
            f'Refusing to load {path} with weights_only=True: it needs the '
            f'globals {sorted(unsafe) or "(unknown)"}, which are not '
            'allowlisted. Checkpoints written without SafeCheckpointHook '
            '(e.g. by plain mmengine) pickle builtins.getattr and cannot be '
            'read safely. If you trust its origin, save its "state_dict" on '
            'its own (a plain state dict), which loads safely.') from err


def get_model_state_dict(checkpoint: dict) -> Dict[str, object]:
    """Return the model weights of a checkpoint.

    Args:
        checkpoint (dict): An mmengine training checkpoint (with a
            ``state_dict`` key) or a plain state dict.

    Returns:
        dict: Parameter/buffer names to values.

    Raises:
        ValueError: If ``checkpoint`` is neither.
    """
    if not isinstance(checkpoint, dict):
        raise ValueError('Expected a checkpoint dict or a state dict, got '
                         f'{type(checkpoint).__name__}.')
    state_dict = checkpoint.get('state_dict')
    if isinstance(state_dict, dict):
        return state_dict
    if any(key in checkpoint for key in _TRAINING_KEYS):
        raise ValueError('The checkpoint has training keys '
                         f'{sorted(map(str, checkpoint))} but no '
                         '"state_dict" dict.')
    return checkpoint


def top_level_names(state_dict: Dict[str, object]) -> List[str]:
    """List the first component of every key (the top-level module names).

    Args:
        state_dict (dict): A state dict.

    Returns:
        list[str]: Sorted unique names, e.g. ``['backbone', 'encoder_k',
        'head', 'neck', 'queue']``.
    """
    return sorted({str(key).split('.', 1)[0] for key in state_dict})


def select_submodule(state_dict: Dict[str, object],
                     prefix: str = DEFAULT_PREFIX) -> Dict[str, torch.Tensor]:
    """Keep the tensors under ``prefix`` and strip it from their names.

    Everything else (momentum encoder ``encoder_k.module.0.*``, neck, head,
    queues) is dropped. ``num_batches_tracked`` buffers are kept: mmdet's and
    mmseg's ``ResNet`` build ``nn.BatchNorm2d`` layers that have them.

    Args:
        state_dict (dict): The model state dict.
        prefix (str): The submodule to extract. Defaults to ``'backbone.'``.

    Returns:
        dict[str, torch.Tensor]: Stripped names to compact CPU copies.

    Raises:
        ValueError: If no tensor starts with ``prefix``; the message lists
            the top-level names that do exist.
    """
    prefix = _normalise_prefix(prefix)
    selected: Dict[str, torch.Tensor] = {}
    skipped: List[str] = []
    for key, value in state_dict.items():
        if not str(key).startswith(prefix):
            continue
        if not isinstance(value, torch.Tensor):
            skipped.append(key)
            continue
        # ``clone`` gives each tensor its own storage: torch.save writes
        # whole storages, so views would drag their base tensors along.
        selected[key[len(prefix):]] = value.detach().cpu().clone(
            memory_format=torch.contiguous_format)
    if skipped:
        print_log(
            f'Skipped non-tensor entries under {prefix!r}: {skipped}',
            logger='current',
            level=logging.WARNING)
    if not selected:
        raise ValueError(
            f'No tensor key starts with {prefix!r}. Top-level names in the '
            f'checkpoint: {top_level_names(state_dict)}. Pass one of them '
            'with --prefix.')
    return selected


def algorithm_from_cfg_text(cfg_text: str) -> Optional[str]:
    """Find ``model = dict(type=...)`` in a dumped config without running it.

    mmengine stores the config as Python source in ``meta['cfg']``;
    ``ast.parse`` reads it without executing anything.

    Args:
        cfg_text (str): The config source.

    Returns:
        str, optional: The model type (e.g. ``'DenseCL'``), or None.
    """
    try:
        tree = ast.parse(cfg_text)
    except (SyntaxError, ValueError):
        return None
    for node in tree.body:
        if not (isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call) and any(
                    isinstance(target, ast.Name) and target.id == 'model'
                    for target in node.targets)):
            continue
        for keyword in node.value.keywords:
            if (keyword.arg == 'type'
                    and isinstance(keyword.value, ast.Constant)
                    and isinstance(keyword.value.value, str)):
                return keyword.value.value
    return None


def build_extract_meta(checkpoint: dict, in_path: str, prefix: str,
                       num_tensors: int) -> Dict[str, Union[str, int]]:
    """Describe where extracted weights come from, with str/int values only.

    Only builtin scalars are stored so that the output stays loadable with
    ``weights_only=True`` and no allowlist.

    Args:
        checkpoint (dict): The loaded input checkpoint.
        in_path (str): The input file.
        prefix (str): The extracted prefix.
        num_tensors (int): Number of tensors written.

    Returns:
        dict: ``source`` (file name), ``source_sha256``, ``prefix``,
        ``num_tensors`` and, when the input records them, ``algorithm``,
        ``epoch`` and ``iter``.
    """
    meta: Dict[str, Union[str, int]] = dict(
        source=osp.basename(in_path),
        source_sha256=sha256sum(in_path),
        prefix=_normalise_prefix(prefix),
        num_tensors=int(num_tensors))
    src_meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None
    if isinstance(src_meta, dict):
        cfg_text = src_meta.get('cfg')
        algorithm = algorithm_from_cfg_text(cfg_text) if isinstance(
            cfg_text, str) else None
        if algorithm:
            meta['algorithm'] = algorithm
        for key in ('epoch', 'iter'):
            # ``bool`` is an ``int`` subclass but never a valid counter.
            value = src_meta.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                meta[key] = int(value)
    return meta


def pretrained_init_cfg(path: str) -> str:
    """Format the ``init_cfg`` line that loads extracted weights.

    Args:
        path (str): The extracted file.

    Returns:
        str: ``init_cfg=dict(type='Pretrained', checkpoint='...')``.
    """
    return f"init_cfg=dict(type='Pretrained', checkpoint={path!r})"


def write_atomically(out_path: str, write: Callable[[str], None]) -> None:
    """Write a file through a temporary one in the same folder, then rename.

    An interrupted or failing write never leaves a truncated file at
    ``out_path``; the temporary file is removed in every case.

    Args:
        out_path (str): The destination; missing folders are created.
        write (Callable[[str], None]): Writes the content to the path it is
            given.
    """
    out_dir = osp.dirname(osp.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    tmp_path = osp.join(out_dir,
                        f'.{osp.basename(out_path)}.{os.getpid()}.tmp')
    try:
        write(tmp_path)
        os.replace(tmp_path, out_path)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)


def _save_atomically(obj: dict, out_path: str) -> None:
    """``torch.save`` through :func:`write_atomically`."""
    write_atomically(out_path, lambda path: torch.save(obj, path))


def extract_backbone_weights(in_path: str,
                             out_path: str,
                             prefix: str = DEFAULT_PREFIX,
                             with_meta: bool = True) -> dict:
    """Write the weights under ``prefix`` of ``in_path`` to ``out_path``.

    The input is read with ``weights_only=True`` (see
    :func:`load_checkpoint_safely`). The output is
    ``{'state_dict': {name: tensor}, 'meta': {...}}`` with tensors and
    str/int values only, so it loads with ``torch.load(out_path,
    weights_only=True)`` and no allowlist, and into mmdet/mmseg ``ResNet``
    through ``init_cfg=dict(type='Pretrained', checkpoint=out_path)``.

    Args:
        in_path (str): Pretraining checkpoint (mmengine training checkpoint
            or plain state dict).
        out_path (str): Output file; missing folders are created.
        prefix (str): Submodule to extract. Defaults to ``'backbone.'``.
        with_meta (bool): Whether to add the ``meta`` dict of
            :func:`build_extract_meta`. Defaults to True.

    Returns:
        dict: The object that was saved.

    Raises:
        FileNotFoundError: If ``in_path`` does not exist.
        ValueError: If ``out_path`` is ``in_path`` or nothing matches
            ``prefix``.
        pickle.UnpicklingError: If ``in_path`` cannot be read safely.
    """
    if osp.exists(out_path) and osp.exists(in_path) and osp.samefile(
            in_path, out_path):
        raise ValueError(f'Output {out_path} is the input file; refusing to '
                         'overwrite the pretraining checkpoint.')
    checkpoint = load_checkpoint_safely(in_path)
    state_dict = select_submodule(get_model_state_dict(checkpoint), prefix)
    extracted: dict = dict(state_dict=state_dict)
    if with_meta:
        extracted['meta'] = build_extract_meta(checkpoint, in_path, prefix,
                                               len(state_dict))
    _save_atomically(extracted, out_path)
    print_log(
        f'Extracted {len(state_dict)} tensors under '
        f'{_normalise_prefix(prefix)!r} from {in_path} to {out_path}',
        logger='current')
    return extracted


# MCL's transfer (the authors' include_head conversion): the backbone, the FPN
# and the four region-head convs, under the names of an mmdet two-stage
# detector with ``FPN(norm_cfg=SyncBN)`` and ``Shared4Conv1FCBBoxHead``.
DETECTOR_KEY_MAP = {
    'backbone.': 'backbone.',
    'neck.': 'neck.',
    'region_neck.shared_convs.': 'roi_head.bbox_head.shared_convs.',
}


def shift_fpn_levels(state_dict: Dict[str, torch.Tensor],
                     start_level: int,
                     prefix: str = 'neck.') -> Dict[str, torch.Tensor]:
    """Renumber the levels of an mmdet ``FPN`` for a detector whose FPN
    starts at a later backbone stage.

    mmdet's ``FPN(start_level=s)`` numbers its ``lateral_convs`` and
    ``fpn_convs`` from the backbone stage ``s``: RetinaNet (``s=1``, C3-C5)
    calls ``lateral_convs.0`` what MCL's FPN over C2-C5 calls
    ``lateral_convs.1``. Levels below ``start_level`` are dropped; other
    keys are returned unchanged.

    Args:
        state_dict (dict[str, Tensor]): Detector-named weights.
        start_level (int): The detector FPN's ``start_level`` (>= 0).
        prefix (str): Prefix of the FPN keys. Defaults to ``'neck.'``.

    Returns:
        dict[str, Tensor]: The renamed weights.

    Raises:
        ValueError: If ``start_level`` is negative or no FPN level is left.
    """
    if start_level < 0:
        raise ValueError(f'fpn_start_level must be >= 0, got {start_level}')
    pattern = re.compile(
        rf'^{re.escape(prefix)}(lateral_convs|fpn_convs)\.(\d+)\.(.*)$')
    shifted: Dict[str, torch.Tensor] = {}
    num_fpn = 0
    for key, value in state_dict.items():
        match = pattern.match(key)
        if match is None:
            shifted[key] = value
            continue
        level = int(match.group(2)) - start_level
        if level >= 0:
            shifted[f'{prefix}{match.group(1)}.{level}.{match.group(3)}'] = \
                value
            num_fpn += 1
    if start_level and not num_fpn:
        raise ValueError(f'no FPN level of {prefix!r} is left with '
                         f'fpn_start_level={start_level}')
    return shifted


def extract_detector_weights(in_path: str,
                             out_path: str,
                             key_map: Optional[Dict[str, str]] = None,
                             with_meta: bool = True,
                             fpn_start_level: int = 0) -> dict:
    """Write backbone, FPN and box-head convs with mmdet detector names.

    Like :func:`extract_backbone_weights`, but every prefix of ``key_map``
    is extracted and renamed, so the output is a partial mmdet state dict
    (``backbone.*``, ``neck.*``, ``roi_head.bbox_head.shared_convs.*``).
    Load each part with ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix='neck.')`` (and ``'backbone.'``, ``'roi_head.bbox_head.'``), or
    everything at once with ``load_from``.

    Args:
        in_path (str): Pretraining checkpoint (e.g. MCL's).
        out_path (str): Output file; missing folders are created.
        key_map (dict[str, str], optional): Source prefix to detector
            prefix. Defaults to :data:`DETECTOR_KEY_MAP`.
        with_meta (bool): Whether to add ``meta``. Defaults to True.
        fpn_start_level (int): ``start_level`` of the target detector's FPN:
            0 for Mask R-CNN (P2-P5 from C2-C5, MCL's own layout), 1 for
            RetinaNet (C3-C5); see :func:`shift_fpn_levels`. Defaults to 0.

    Returns:
        dict: The object that was saved.

    Raises:
        FileNotFoundError: If ``in_path`` does not exist.
        ValueError: If ``out_path`` is ``in_path``, a prefix matches
            nothing (the message lists the checkpoint's top-level names) or
            ``fpn_start_level`` leaves no FPN level.
    """
    if osp.exists(out_path) and osp.exists(in_path) and osp.samefile(
            in_path, out_path):
        raise ValueError(f'Output {out_path} is the input file; refusing to '
                         'overwrite the pretraining checkpoint.')
    key_map = DETECTOR_KEY_MAP if key_map is None else key_map
    checkpoint = load_checkpoint_safely(in_path)
    model_state = get_model_state_dict(checkpoint)
    state_dict: Dict[str, torch.Tensor] = {}
    for src, dst in key_map.items():
        part = select_submodule(model_state, src)
        state_dict.update({dst + key: value for key, value in part.items()})
    if fpn_start_level:
        state_dict = shift_fpn_levels(state_dict, fpn_start_level)
    extracted: dict = dict(state_dict=state_dict)
    if with_meta:
        extracted['meta'] = build_extract_meta(checkpoint, in_path,
                                               ','.join(key_map),
                                               len(state_dict))
    _save_atomically(extracted, out_path)
    print_log(
        f'Extracted {len(state_dict)} tensors ({", ".join(key_map)}) from '
        f'{in_path} to {out_path} with mmdet detector names',
        logger='current')
    return extracted
