"""Convert weight files between layouts (see docs/weights.md).

:func:`convert_weights` reads a file safely (``weights_only=True``), renames
it with a reader of :mod:`.sources`, checks the result key by key against
the model it is meant for, and only then writes the output, through a
temporary file, so that a failed conversion leaves no output behind.

Targets:

* ``dense_contrast``: the whole model of this project, ``{'state_dict',
  'meta'}``: ``DenseCL`` for DenseCL checkpoints, mmpretrain's ``MoCo``
  (which this project trains for MoCo v2) for MoCo v2 checkpoints.
* ``backbone``: the ResNet alone, as ``extract_backbone_weights`` writes it
  (mmdet/mmseg ``ResNet`` names, ``{'state_dict', 'meta'}``).
* ``detector``: MCL's backbone, FPN and region-head convolutions with mmdet
  detector names, as ``extract_backbone_weights --with-fpn-head`` writes
  them.
* ``torchvision``: a plain state dict for ``torchvision.models.resnet*``
  without ``fc``.
* ``detectron2``: a ``.pkl`` with ``{'model': {name: ndarray},
  '__author__': ..., 'matching_heuristics': True}``.
"""
import copy
import os.path as osp
import pickle
from typing import Dict, Mapping, Optional

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from ..models.utils import mocov2_cfg
from ..utils.extract import (DETECTOR_KEY_MAP, get_model_state_dict,
                             load_checkpoint_safely, sha256sum,
                             write_atomically)
from .layout import (WeightLayoutError, add_prefix, compare_with_reference,
                     fill_num_batches_tracked, select_prefix, source_name)
from .resnet import (ResNetArch, backbone_to_detectron2,
                     backbone_to_torchvision, infer_resnet_arch,
                     resnet_reference)
from .sources import BACKBONE_ONLY, SOURCE_LAYOUTS, SourceWeights, read_source

__all__ = [
    'TARGETS', 'DETECTRON2_AUTHOR', 'build_reference_model',
    'inferred_model_cfg', 'convert_state_dict', 'convert_weights'
]

#: Target layout -> description.
TARGETS = {
    'dense_contrast': 'the whole model of this project (DenseCL, or '
    "mmpretrain's MoCo for MoCo v2)",
    'backbone': 'the ResNet alone, for mmdet/mmseg init_cfg',
    'detector': "MCL's backbone, FPN and region-head convs with mmdet "
    'detector names',
    'torchvision': 'a torchvision resnet state dict without fc',
    'detectron2': 'a detectron2 .pkl of the ResNet',
}
#: ``__author__`` of the detectron2 files written here.
DETECTRON2_AUTHOR = 'dense_contrast'
_DETECTOR_PARTS = tuple(DETECTOR_KEY_MAP)


def build_reference_model(config: str) -> nn.Module:
    """Build the model of a config on the CPU (its ``init_cfg`` dropped, so
    that no pretrained file is read).

    Args:
        config (str): A config file of this project.

    Returns:
        nn.Module: The model; its ``state_dict()`` is the expected layout.
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from dense_contrast.registry import MODELS
    cfg = Config.fromfile(config)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'dense_contrast')):
        return MODELS.build(model_cfg)


def _arch(weights: SourceWeights, path: str, layout: str) -> ResNetArch:
    """Recognise the backbone; on failure report the file's other key
    problems too, in the file's names."""
    try:
        return infer_resnet_arch(
            select_prefix(weights.state_dict, 'backbone.'), path, layout)
    except WeightLayoutError as err:
        raise WeightLayoutError(
            path,
            layout,
            missing=weights.missing + [
                source_name('backbone.' + k, weights.rules)
                for k in err.missing
            ],
            unexpected=weights.unexpected,
            hint=err.hint) from None


def _shape_of(weights: SourceWeights, key: str, path: str,
              layout: str) -> torch.Size:
    value = weights.state_dict.get(key)
    if value is None:
        raise WeightLayoutError(
            path,
            layout,
            missing=weights.missing + [source_name(key, weights.rules)],
            unexpected=weights.unexpected)
    return value.shape


def inferred_model_cfg(weights: SourceWeights, path: str,
                       layout: str) -> dict:
    """The model config that a DenseCL or MoCo v2 checkpoint was trained
    with, as far as its shapes tell (depth, widths, D, K).

    Args:
        weights (SourceWeights): Renamed weights with ``algorithm``
            ``'DenseCL'`` or ``'MoCo'``.
        path (str): The source file, for messages.
        layout (str): The source layout, for messages.

    Returns:
        dict: A model config for this project's registry.

    Raises:
        WeightLayoutError: If a key the shapes are read from is missing.
    """
    arch = _arch(weights, path, layout)
    backbone = dict(
        type='ResNet',
        depth=arch.depth,
        stem_channels=arch.stem_channels,
        base_channels=arch.base_channels,
        out_indices=(3, ))
    if weights.algorithm == 'DenseCL':
        hid, channels = _shape_of(weights, 'neck.global_mlp.0.weight', path,
                                  layout)
        dim, length = _shape_of(weights, 'global_queue.feats', path, layout)
        return dict(
            type='DenseCL',
            queue_len=length,
            feat_dim=dim,
            backbone=backbone,
            neck=dict(
                type='DenseProjectionNeck',
                in_channels=channels,
                hid_channels=hid,
                out_channels=dim),
            head=dict(type='InfoNCEHead', temperature=0.2))
    hid, channels = _shape_of(weights, 'neck.mlp.0.weight', path, layout)
    dim, length = _shape_of(weights, 'queue', path, layout)
    return mocov2_cfg(backbone, channels, hid, dim, length)


def _inferred_detector_reference(weights: SourceWeights, path: str,
                                 layout: str) -> Dict[str, Tensor]:
    """Backbone, mmdet FPN with BN and region convs, shaped like the file."""
    from dense_contrast.models.necks import RegionEmbeddingNeck
    from dense_contrast.utils.extras import import_optional
    state = weights.state_dict
    arch = _arch(weights, path, layout)
    levels = sorted({
        int(k.split('.')[2])
        for k in state if k.startswith('neck.lateral_convs.')
    })
    convs = sorted({
        int(k.split('.')[2])
        for k in state if k.startswith('region_neck.shared_convs.')
    })
    if not levels or not convs:
        raise WeightLayoutError(
            path, layout,
            missing=weights.missing + [
                source_name(k, weights.rules) for k, found in (
                    ('neck.lateral_convs.0.conv.weight', levels),
                    ('region_neck.shared_convs.0.conv.weight', convs))
                if not found
            ],
            unexpected=weights.unexpected)
    in_channels = [
        int(_shape_of(weights, f'neck.lateral_convs.{i}.conv.weight', path,
                      layout)[1]) for i in levels
    ]
    out_channels = int(
        _shape_of(weights, 'neck.lateral_convs.0.conv.weight', path,
                  layout)[0])
    necks = import_optional('mmdet.models.necks',
                            'Converting to the detector layout')
    fpn = necks.FPN(
        in_channels=in_channels,
        out_channels=out_channels,
        num_outs=len(in_channels),
        norm_cfg=dict(type='BN'))
    region = RegionEmbeddingNeck(
        in_channels=out_channels,
        hid_channels=out_channels,
        out_channels=out_channels,
        num_convs=len(convs))
    reference = add_prefix(resnet_reference(arch), 'backbone.')
    reference.update(add_prefix(fpn.state_dict(), 'neck.'))
    reference.update(
        add_prefix(
            select_prefix(region.state_dict(), 'shared_convs.'),
            'region_neck.shared_convs.'))
    return reference


def _select(state_dict: Mapping[str, Tensor], prefixes) -> Dict[str, Tensor]:
    return {
        k: v
        for k, v in state_dict.items() if k.startswith(tuple(prefixes))
    }


def _checked(part: Dict[str, Tensor], reference: Mapping[str, Tensor],
             weights: SourceWeights, path: str, layout: str,
             hint: Optional[str] = None) -> Dict[str, Tensor]:
    """Fill absent BN counters, compare, and order like the reference."""
    part = dict(part)
    fill_num_batches_tracked(part, reference)
    compare_with_reference(
        part,
        reference,
        path,
        layout,
        origin=weights.origin,
        rules=weights.rules,
        extra_unexpected=weights.unexpected,
        extra_missing=weights.missing,
        hint=hint)
    return {k: part[k] for k in reference}


def convert_state_dict(weights: SourceWeights,
                       target: str,
                       path: str,
                       layout: str,
                       reference_model: Optional[nn.Module] = None) -> dict:
    """Check renamed weights and lay them out for ``target``.

    Args:
        weights (SourceWeights): The output of :func:`~.sources.read_source`.
        target (str): A key of :data:`TARGETS`.
        path (str): The source file, for messages.
        layout (str): The source layout, for messages.
        reference_model (nn.Module, optional): The model the weights must
            fit (e.g. built from a config with :func:`build_reference_model`);
            only its parts that the target writes are compared. Defaults to
            None: a model shaped like the file (ResNet depth and widths,
            projection sizes, queue length) is built instead.

    Returns:
        dict: The converted weights: project names to tensors, torchvision
        names to tensors, or detectron2 names to numpy arrays.

    Raises:
        ValueError: If ``target`` is unknown or cannot be made from this
            source (e.g. a whole model from a backbone file).
        WeightLayoutError: If the keys or shapes do not fit.
    """
    if target not in TARGETS:
        raise ValueError(f'Unknown target layout {target!r}; choose one of '
                         f'{sorted(TARGETS)}.')
    expected = (
        reference_model.state_dict() if reference_model is not None else None)
    state = weights.state_dict
    if target == 'dense_contrast':
        if layout == 'dense_contrast':
            raise ValueError(f'{path} is already a dense_contrast checkpoint; '
                             'choose another --to.')
        if weights.algorithm not in ('DenseCL', 'MoCo'):
            raise ValueError(
                f'{path} holds {weights.algorithm!r} weights; only DenseCL '
                'and MoCo v2 checkpoints become a whole dense_contrast model '
                '(a backbone file: --to backbone; MCL: --to detector).')
        if expected is None:
            from dense_contrast.registry import MODELS
            expected = MODELS.build(
                inferred_model_cfg(weights, path, layout)).state_dict()
        return _checked(state, expected, weights, path, layout)
    if target == 'detector':
        if weights.algorithm not in ('MCL', 'unknown'):
            raise ValueError(
                f'{path} holds {weights.algorithm!r} weights; the detector '
                'layout needs an FPN and region-head convs (MCL).')
        reference = (
            _select(expected, _DETECTOR_PARTS) if expected is not None else
            _inferred_detector_reference(weights, path, layout))
        checked = _checked(
            _select(state, _DETECTOR_PARTS), reference, weights, path, layout)
        out = {}
        for src, dst in DETECTOR_KEY_MAP.items():
            out.update(add_prefix(select_prefix(checked, src), dst))
        return out
    if expected is not None:
        reference = _select(expected, ('backbone.', ))
    else:
        reference = add_prefix(
            resnet_reference(_arch(weights, path, layout)), 'backbone.')
    backbone = select_prefix(
        _checked(
            _select(state, ('backbone.', )), reference, weights, path,
            layout), 'backbone.')
    if target == 'torchvision':
        return backbone_to_torchvision(backbone)
    if target == 'detectron2':
        return backbone_to_detectron2(backbone)
    return backbone


def _compact(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    # Own storage per tensor: torch.save writes whole storages.
    return {
        k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
        for k, v in state_dict.items()
    }


def convert_weights(in_path: str,
                    out_path: str,
                    source: str,
                    target: str,
                    config: Optional[str] = None,
                    with_meta: bool = True) -> dict:
    """Convert a weights file from layout ``source`` to layout ``target``.

    Nothing is written unless the whole input fits the declared layout.

    Args:
        in_path (str): Input checkpoint, read with ``weights_only=True``.
        out_path (str): Output file; missing folders are created.
        source (str): A key of :data:`~.sources.SOURCE_LAYOUTS`.
        target (str): A key of :data:`TARGETS`.
        config (str, optional): Config whose model the weights must fit
            exactly (the parts the target writes). Defaults to None: the
            model is inferred from the file's shapes.
        with_meta (bool): Whether to add ``meta`` (source file, its sha256,
            layouts) to ``dense_contrast``, ``backbone`` and ``detector``
            outputs. Defaults to True. torchvision and detectron2 outputs
            never have it.

    Returns:
        dict: The object that was saved.

    Raises:
        FileNotFoundError: If ``in_path`` does not exist.
        ValueError: If the layouts are unknown or incompatible, or
            ``out_path`` is ``in_path``.
        WeightLayoutError: If the input is not of layout ``source``; the
            message names the file and the keys.
        pickle.UnpicklingError: If the input cannot be read safely.
    """
    if source not in SOURCE_LAYOUTS:
        raise ValueError(f'Unknown source layout {source!r}; choose one of '
                         f'{sorted(SOURCE_LAYOUTS)}.')
    if target not in TARGETS:
        raise ValueError(f'Unknown target layout {target!r}; choose one of '
                         f'{sorted(TARGETS)}.')
    if osp.exists(out_path) and osp.exists(in_path) and osp.samefile(
            in_path, out_path):
        raise ValueError(f'Output {out_path} is the input file; refusing to '
                         'overwrite it.')
    checkpoint = load_checkpoint_safely(in_path)
    state_dict = get_model_state_dict(checkpoint)
    meta = checkpoint.get('meta') if state_dict is not checkpoint else None
    weights = read_source(state_dict, source, in_path, meta)
    reference_model = (
        build_reference_model(config) if config is not None else None)
    converted = convert_state_dict(weights, target, in_path, source,
                                   reference_model)
    if target == 'detectron2':
        saved: dict = dict(
            model=converted,
            __author__=DETECTRON2_AUTHOR,
            matching_heuristics=True)

        def write(path: str) -> None:
            with open(path, 'wb') as f:
                pickle.dump(saved, f)
    else:
        tensors = _compact(converted)
        if target == 'torchvision':
            saved = tensors
        else:
            saved = dict(state_dict=tensors)
            if with_meta:
                saved['meta'] = dict(
                    source=osp.basename(in_path),
                    source_sha256=sha256sum(in_path),
                    source_layout=source,
                    target_layout=target,
                    num_tensors=len(tensors))
                if weights.algorithm not in (BACKBONE_ONLY, 'unknown'):
                    saved['meta']['algorithm'] = weights.algorithm

        def write(path: str) -> None:
            torch.save(saved, path)

    write_atomically(out_path, write)
    print_log(
        f'Converted {in_path} ({source}) to {out_path} ({target}): '
        f'{len(converted)} entries',
        logger='current')
    return saved
