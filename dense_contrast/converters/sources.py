"""Read other projects' checkpoints into this project's key names.

Each reader takes the model state dict of a checkpoint and renames it into
the names of this project's models (``backbone.*``, ``neck.*``,
``encoder_k.module.*``, ``global_queue.*``, ...), reporting every key its
layout does not account for. Layouts (see docs/weights.md):

* ``openselfsup-densecl``: the DenseCL authors' OpenSelfSup model
  (https://github.com/WXinlong/DenseCL): ``encoder_q`` = Sequential(ResNet,
  DenseCLNeck with ``mlp`` and ``mlp2``), its momentum copy ``encoder_k``,
  the buffers ``queue``, ``queue_ptr``, ``queue2``, ``queue2_ptr``, and
  ``backbone.*``, the same ResNet registered a second time under that name.
  Also the file of the authors' ``extract_backbone_weights.py``: the
  ResNet keys alone.
* ``mmpretrain``: mmpretrain's ``DenseCL`` (``backbone``, ``neck.mlp``,
  ``neck.mlp2``, ``encoder_k.module.{0,1}``, ``encoder_k.steps``, the four
  queue buffers) or ``MoCo`` (the same without ``mlp2`` and ``queue2*``),
  or their backbone alone (``backbone.*``).
* ``openselfsup-mcl``: the MCL authors' OpenSelfSup model
  (https://github.com/GuoQiushan/MCL): ``encoder_q`` = Sequential(ResNet,
  FPN, DetConvGpNonLinearHead with ``cls_convs`` and ``mlp``), ``encoder_k``
  its momentum copy, ``backbone.*`` the ResNet again, ``head.*`` the
  predictors.
* ``dense_contrast``: a checkpoint of this project (any method) or a
  backbone file extracted from one.
"""
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from .layout import (RenameRule, WeightLayoutError, rename_keys,
                     select_prefix)

__all__ = [
    'SourceWeights', 'SOURCE_LAYOUTS', 'read_source', 'BACKBONE_ONLY',
    'OPENSELFSUP_DENSECL_RULES', 'MMPRETRAIN_DENSECL_RULES',
    'MMPRETRAIN_MOCO_RULES', 'OPENSELFSUP_MCL_RULES'
]

#: ``SourceWeights.algorithm`` of a file that holds a backbone only.
BACKBONE_ONLY = 'backbone'

OPENSELFSUP_DENSECL_RULES: List[RenameRule] = [
    ('encoder_q.0.', 'backbone.'),
    ('encoder_q.1.mlp.', 'neck.global_mlp.'),
    ('encoder_q.1.mlp2.', 'neck.dense_mlp.'),
    ('encoder_k.0.', 'encoder_k.module.0.'),
    ('encoder_k.1.mlp.', 'encoder_k.module.1.global_mlp.'),
    ('encoder_k.1.mlp2.', 'encoder_k.module.1.dense_mlp.'),
    ('queue', 'global_queue.feats'),
    ('queue_ptr', 'global_queue.ptr'),
    ('queue2', 'dense_queue.feats'),
    ('queue2_ptr', 'dense_queue.ptr'),
]
MMPRETRAIN_DENSECL_RULES: List[RenameRule] = [
    ('backbone.', 'backbone.'),
    ('neck.mlp.', 'neck.global_mlp.'),
    ('neck.mlp2.', 'neck.dense_mlp.'),
    ('encoder_k.module.0.', 'encoder_k.module.0.'),
    ('encoder_k.module.1.mlp.', 'encoder_k.module.1.global_mlp.'),
    ('encoder_k.module.1.mlp2.', 'encoder_k.module.1.dense_mlp.'),
    ('encoder_k.steps', 'encoder_k.steps'),
    ('queue', 'global_queue.feats'),
    ('queue_ptr', 'global_queue.ptr'),
    ('queue2', 'dense_queue.feats'),
    ('queue2_ptr', 'dense_queue.ptr'),
]
# This project trains MoCo v2 with mmpretrain's own ``MoCo``: same names.
MMPRETRAIN_MOCO_RULES: List[RenameRule] = [
    ('backbone.', 'backbone.'),
    ('neck.', 'neck.'),
    ('encoder_k.', 'encoder_k.'),
    ('queue', 'queue'),
    ('queue_ptr', 'queue_ptr'),
]
# Only the parts a detector reuses; the region MLP, the momentum copy and
# the predictors are left out (see ``_MCL_DROPPED``).
OPENSELFSUP_MCL_RULES: List[RenameRule] = [
    ('encoder_q.0.', 'backbone.'),
    ('encoder_q.1.', 'neck.'),
    ('encoder_q.2.cls_convs.', 'region_neck.shared_convs.'),
]
_MCL_DROPPED = ('encoder_q.2.mlp.', 'encoder_k.', 'head.', 'backbone.')
_BARE_RULES: List[RenameRule] = [('', 'backbone.')]


class SourceWeights(NamedTuple):
    """A checkpoint renamed into this project's key names.

    Attributes:
        state_dict (dict[str, Tensor]): Project names to tensors.
        algorithm (str): ``'DenseCL'``, ``'MoCo'``, ``'MCL'``,
            :data:`BACKBONE_ONLY`, or ``'unknown'`` (a ``dense_contrast``
            checkpoint, whose parts are selected by prefix).
        origin (dict[str, str]): Project name to the file's name.
        rules (list[RenameRule]): The renaming (names missing keys in the
            file's terms).
        unexpected (list[str]): File keys the layout does not account for.
        missing (list[str]): File keys the layout needs and the file lacks
            (found before any model is built, e.g. an incomplete alias).
    """
    state_dict: Dict[str, Tensor]
    algorithm: str
    origin: Dict[str, str]
    rules: List[RenameRule]
    unexpected: List[str]
    missing: List[str]


def _is_bare_backbone(state_dict: Mapping[str, object]) -> bool:
    return 'conv1.weight' in state_dict or any(
        str(k).startswith('layer1.') for k in state_dict)


def _read(state_dict: Mapping[str, object],
          rules: Sequence[RenameRule],
          algorithm: str,
          drop: Sequence[str] = ()) -> SourceWeights:
    renamed, origin, unmatched = rename_keys(state_dict, rules, drop)
    return SourceWeights(renamed, algorithm, origin, list(rules), unmatched,
                         [])


def _check_alias(state_dict: Mapping[str, object], alias: str, target: str,
                 weights: SourceWeights) -> None:
    """OpenSelfSup registers the online ResNet twice (``self.backbone =
    self.encoder_q[0]``): ``alias`` keys, when present, must be exactly the
    ``target`` keys."""
    aliased = {k[len(alias):] for k in state_dict if k.startswith(alias)}
    if not aliased:
        return
    online = {k[len(target):] for k in state_dict if k.startswith(target)}
    weights.unexpected.extend(alias + k for k in sorted(aliased - online))
    weights.missing.extend(alias + k for k in sorted(online - aliased))


def _check_mirror(state_dict: Mapping[str, object], copy: str, online: str,
                  weights: SourceWeights) -> None:
    """The momentum copy ``copy`` must have the keys of ``online``."""
    copied = {k[len(copy):] for k in state_dict if k.startswith(copy)}
    kept = {k[len(online):] for k in state_dict if k.startswith(online)}
    weights.unexpected.extend(copy + k for k in sorted(copied - kept))
    weights.missing.extend(copy + k for k in sorted(kept - copied))


def _training_iter(meta: Optional[Mapping[str, object]]) -> int:
    value = meta.get('iter') if isinstance(meta, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 1


def read_openselfsup_densecl(state_dict: Mapping[str, object],
                             meta: Optional[Mapping[str, object]] = None
                             ) -> SourceWeights:
    """Rename the DenseCL authors' checkpoint (or extracted backbone).

    The momentum encoder's step counter ``encoder_k.steps`` (mmengine's EMA,
    which copies the online encoder instead of averaging while it is 0) is
    set to the checkpoint's ``meta['iter']``, or 1 without one, so that a
    run started from the converted file keeps the authors' key encoder.

    Args:
        state_dict (Mapping[str, object]): The checkpoint's ``state_dict``.
        meta (Mapping[str, object], optional): The checkpoint's ``meta``.
            Defaults to None.

    Returns:
        SourceWeights: ``algorithm`` is ``'DenseCL'``, or
        :data:`BACKBONE_ONLY` for the extracted backbone.
    """
    if _is_bare_backbone(state_dict):
        return _read(state_dict, _BARE_RULES, BACKBONE_ONLY)
    weights = _read(state_dict, OPENSELFSUP_DENSECL_RULES, 'DenseCL',
                    drop=('backbone.', ))
    _check_alias(state_dict, 'backbone.', 'encoder_q.0.', weights)
    weights.state_dict['encoder_k.steps'] = torch.tensor(
        _training_iter(meta), dtype=torch.long)
    return weights


def read_mmpretrain(state_dict: Mapping[str, object],
                    meta: Optional[Mapping[str, object]] = None
                    ) -> SourceWeights:
    """Rename a checkpoint of mmpretrain's ``DenseCL`` or ``MoCo``.

    DenseCL is recognised by its dense queue ``queue2`` or dense neck
    ``neck.mlp2``; anything else is read as MoCo v2. A file with only
    ``backbone.*`` keys is a backbone.

    Args:
        state_dict (Mapping[str, object]): The checkpoint's ``state_dict``.
        meta (Mapping[str, object], optional): Unused; the same signature as
            the other readers. Defaults to None.

    Returns:
        SourceWeights: ``algorithm`` is ``'DenseCL'``, ``'MoCo'`` or
        :data:`BACKBONE_ONLY`.
    """
    keys = [str(k) for k in state_dict]
    if keys and all(k.startswith('backbone.') for k in keys):
        return _read(state_dict, [('backbone.', 'backbone.')], BACKBONE_ONLY)
    if 'queue2' in state_dict or any(k.startswith('neck.mlp2.') for k in keys):
        return _read(state_dict, MMPRETRAIN_DENSECL_RULES, 'DenseCL')
    return _read(state_dict, MMPRETRAIN_MOCO_RULES, 'MoCo')


def read_openselfsup_mcl(state_dict: Mapping[str, object],
                         meta: Optional[Mapping[str, object]] = None
                         ) -> SourceWeights:
    """Rename the parts of the MCL authors' checkpoint a detector reuses.

    The ResNet becomes ``backbone.*``, the FPN ``neck.*`` and the four
    region-head convolutions ``region_neck.shared_convs.*`` (the names of
    this project's ``MCL``). The region MLP, the momentum encoder and the
    predictors are dropped; the momentum encoder and the ``backbone.*``
    alias are still checked to mirror ``encoder_q``.

    Args:
        state_dict (Mapping[str, object]): The checkpoint's ``state_dict``.
        meta (Mapping[str, object], optional): Unused. Defaults to None.

    Returns:
        SourceWeights: ``algorithm`` is ``'MCL'``, or :data:`BACKBONE_ONLY`
        for a bare ResNet.
    """
    if _is_bare_backbone(state_dict):
        return _read(state_dict, _BARE_RULES, BACKBONE_ONLY)
    weights = _read(state_dict, OPENSELFSUP_MCL_RULES, 'MCL',
                    drop=_MCL_DROPPED)
    _check_alias(state_dict, 'backbone.', 'encoder_q.0.', weights)
    _check_mirror(state_dict, 'encoder_k.', 'encoder_q.', weights)
    return weights


def read_dense_contrast(state_dict: Mapping[str, object],
                        meta: Optional[Mapping[str, object]] = None
                        ) -> SourceWeights:
    """Take a checkpoint of this project (any method) as it is.

    Args:
        state_dict (Mapping[str, object]): The checkpoint's ``state_dict``,
            or an extracted backbone (bare ResNet keys).
        meta (Mapping[str, object], optional): Unused. Defaults to None.

    Returns:
        SourceWeights: ``algorithm`` is :data:`BACKBONE_ONLY` for a bare
        backbone, ``'unknown'`` otherwise.
    """
    if _is_bare_backbone(state_dict):
        return _read(state_dict, _BARE_RULES, BACKBONE_ONLY)
    return _read(state_dict, [('', '')], 'unknown')


#: Source layout name -> (reader, description).
SOURCE_LAYOUTS = {
    'openselfsup-densecl':
    (read_openselfsup_densecl,
     "the DenseCL authors' OpenSelfSup checkpoint (encoder_q.*, encoder_k.*, "
     'queue*) or their extracted backbone'),
    'mmpretrain': (read_mmpretrain,
                   "an mmpretrain DenseCL or MoCo v2 checkpoint (backbone.*, "
                   'neck.*, encoder_k.*, queue*)'),
    'openselfsup-mcl': (read_openselfsup_mcl,
                        "the MCL authors' OpenSelfSup checkpoint "
                        '(encoder_q.{0,1,2}.*, encoder_k.*, head.*)'),
    'dense_contrast': (read_dense_contrast,
                       'a checkpoint of this project or a backbone file '
                       'extracted from one'),
}


def read_source(state_dict: Mapping[str, object], layout: str,
                path: str,
                meta: Optional[Mapping[str, object]] = None) -> SourceWeights:
    """Rename a state dict of a declared layout.

    Args:
        state_dict (Mapping[str, object]): The model weights of the file.
        layout (str): A key of :data:`SOURCE_LAYOUTS`.
        path (str): The file, for error messages.
        meta (Mapping[str, object], optional): The checkpoint's ``meta``.
            Defaults to None.

    Returns:
        SourceWeights: The renamed weights.

    Raises:
        ValueError: If ``layout`` is unknown.
        WeightLayoutError: If no key of the file belongs to the layout.
    """
    if layout not in SOURCE_LAYOUTS:
        raise ValueError(f'Unknown source layout {layout!r}; choose one of '
                         f'{sorted(SOURCE_LAYOUTS)}.')
    reader, description = SOURCE_LAYOUTS[layout]
    weights = reader(state_dict, meta)
    if not weights.state_dict or not select_prefix(weights.state_dict,
                                                   'backbone.'):
        raise WeightLayoutError(
            path, layout, unexpected=weights.unexpected,
            hint=f'Expected {description}; no backbone was found.')
    return weights
