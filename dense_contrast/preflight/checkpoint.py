"""Checkpoints: name a checkpoint's backbone, refuse one written for another
method or backbone, and find the checkpoint a run resumes from."""
import copy
import os.path as osp
import re
from typing import Any, Dict, Optional, Sequence, Set

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .errors import ConfigValidationError

__all__ = [
    'describe_backbone', 'check_checkpoint_matches', 'find_resume_checkpoint'
]


def describe_backbone(state_dict: Dict[str, Any],
                      prefix: str = 'backbone.') -> Optional[str]:
    """Name a ResNet backbone from its keys, e.g. ``'ResNet-50'``.

    Args:
        state_dict (dict): A model state dict.
        prefix (str): The backbone's key prefix. Defaults to 'backbone.'.

    Returns:
        str, optional: ``'ResNet-<depth>'`` when the block counts match a
        known depth, a description of the blocks otherwise, None when there
        are no ResNet stage keys.
    """
    from mmpretrain.models import ResNet
    blocks: Dict[int, Set[int]] = {}
    pattern = re.compile(rf'^{re.escape(prefix)}layer(\d+)\.(\d+)\.')
    for key in state_dict:
        match = pattern.match(str(key))
        if match:
            blocks.setdefault(int(match[1]), set()).add(int(match[2]))
    if not blocks:
        return None
    counts = tuple(len(blocks[i]) for i in sorted(blocks))
    bottleneck = f'{prefix}layer1.0.conv3.weight' in state_dict
    for depth, (block, stage_blocks) in ResNet.arch_settings.items():
        if (tuple(stage_blocks) == counts
                and (block.__name__ == 'Bottleneck') == bottleneck):
            return f'ResNet-{depth}'
    kind = 'bottleneck' if bottleneck else 'basic'
    return f'ResNet with {kind} blocks {"-".join(map(str, counts))}'


def _examples(items: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(items[:limit])
    return shown + (f', ... ({len(items)} in all)'
                    if len(items) > limit else '')


def check_checkpoint_matches(cfg: Config, checkpoint_path: str,
                             what: str) -> None:
    """Refuse a checkpoint written for another method or backbone.

    The model of ``cfg`` is built on the CPU and its state dict compared
    with the checkpoint's. When the names or shapes differ (and a strict
    load, which applies the model's renaming of mmpretrain keys, fails as
    well), the error names the method and backbone of both sides and the
    keys that differ.

    Args:
        cfg (Config): The merged config.
        checkpoint_path (str): The checkpoint.
        what (str): How the checkpoint was passed, e.g. ``'--resume'``.

    Raises:
        ConfigValidationError: If the checkpoint cannot be read or does not
            fit the model.
    """
    import pickle

    from dense_contrast.registry import MODELS
    from dense_contrast.utils.extract import (algorithm_from_cfg_text,
                                              get_model_state_dict,
                                              load_checkpoint_safely)
    try:
        checkpoint = load_checkpoint_safely(checkpoint_path)
        saved = get_model_state_dict(checkpoint)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError,
            RuntimeError) as err:
        raise ConfigValidationError(f'{what} {checkpoint_path}: {err}') from err
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'dense_contrast')):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.pop('init_cfg', None)
        model = MODELS.build(model_cfg)
    expected = model.state_dict()
    only_saved = sorted(k for k in saved if k not in expected)
    only_model = sorted(k for k in expected if k not in saved)
    shapes = [
        f'{k}: checkpoint {tuple(saved[k].shape)}, model '
        f'{tuple(expected[k].shape)}' for k in sorted(expected)
        if k in saved and isinstance(saved[k], torch.Tensor)
        and saved[k].shape != expected[k].shape
    ]
    if not (only_saved or only_model or shapes):
        return
    try:  # renames (e.g. mmpretrain's queue keys) may make it fit
        model.load_state_dict(saved, strict=True)
        return
    except RuntimeError:
        pass
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    cfg_text = meta.get('cfg') if isinstance(meta, dict) else None
    saved_method = (algorithm_from_cfg_text(cfg_text)
                    if isinstance(cfg_text, str) else None) or 'unknown method'
    saved_desc = f'{saved_method}, {describe_backbone(saved) or "?"}'
    model_desc = f'{type(model).__name__}, {describe_backbone(expected) or "?"}'
    parts = []
    if only_saved:
        parts.append(f'{len(only_saved)} keys only in the checkpoint '
                     f'({_examples(only_saved)})')
    if only_model:
        parts.append(f'{len(only_model)} keys only in the model '
                     f'({_examples(only_model)})')
    if shapes:
        parts.append(f'{len(shapes)} keys with other shapes '
                     f'({_examples(shapes, 3)})')
    raise ConfigValidationError(
        f'{what} {checkpoint_path} does not fit the model of this config: '
        f'the checkpoint holds {saved_desc}, the config builds '
        f'{model_desc}; ' + '; '.join(parts) +
        '. Use a checkpoint written with this config (or this config\'s '
        'method and backbone).')


def find_resume_checkpoint(cfg: Config) -> Optional[str]:
    """The checkpoint ``Runner`` will resume from, or None.

    Args:
        cfg (Config): The merged config (``resume``, ``load_from``,
            ``work_dir``).

    Returns:
        str, optional: ``load_from`` when given with ``resume``, else the
        latest checkpoint named in ``<work_dir>/last_checkpoint``.
    """
    if not cfg.get('resume'):
        return None
    if cfg.get('load_from'):
        return cfg.load_from
    from mmengine.runner import find_latest_checkpoint
    work_dir = cfg.get('work_dir')
    if not work_dir or not osp.isdir(work_dir):
        return None
    return find_latest_checkpoint(work_dir)
