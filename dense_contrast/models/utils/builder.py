"""Building the sub-modules of the methods from configs."""
from typing import Optional, Union

from torch import nn

from dense_contrast.registry import MODELS


def build_module(cfg: Union[dict, nn.Module, None]) -> Optional[nn.Module]:
    """Build a sub-module in this project's registry scope, or pass a ready
    module (or None) through.

    Building in the ``dense_contrast`` scope resolves both the project's types
    and mmpretrain's (its parent registry).

    Args:
        cfg (dict or nn.Module, optional): Config with a ``type``, a module,
            or None.

    Returns:
        nn.Module, optional: The built module, ``cfg`` itself if it is a
        module, or None.
    """
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(cfg)


def build_parts(
        backbone: Union[dict, nn.Module],
        neck: Union[dict, nn.Module],
        head: Union[dict, nn.Module],
        data_preprocessor: Optional[Union[dict, nn.Module]] = None) -> dict:
    """The built sub-modules that mmpretrain's ``BaseSelfSupervisor`` takes.

    Args:
        backbone (dict or nn.Module): Backbone.
        neck (dict or nn.Module): Neck.
        head (dict or nn.Module): Loss head.
        data_preprocessor (dict or nn.Module, optional): Preprocessor; a dict
            without ``type`` (or None) becomes a ``SelfSupDataPreprocessor``
            with those arguments. Defaults to None.

    Returns:
        dict: ``backbone``, ``neck``, ``head`` and ``data_preprocessor``, all
        built, as keyword arguments of ``BaseSelfSupervisor.__init__``.
    """
    if data_preprocessor is None or isinstance(data_preprocessor, dict):
        data_preprocessor = {
            'type': 'SelfSupDataPreprocessor',
            **(data_preprocessor or {})
        }
    return dict(
        backbone=build_module(backbone),
        neck=build_module(neck),
        head=build_module(head),
        data_preprocessor=build_module(data_preprocessor))


def mocov2_cfg(backbone: dict, in_channels: int, hid_channels: int,
               feat_dim: int, queue_len: int) -> dict:
    """Config of mmpretrain's ``MoCo`` as MoCo v2: the 2-layer MLP neck on
    the pooled last stage, the InfoNCE head at temperature 0.2 and a key
    encoder updated with MoCo's m = 0.999 (mmengine's ``momentum=0.001``).

    The reference model of the step benchmark and the model that converted
    MoCo v2 weights must fit.

    Args:
        backbone (dict): The backbone config.
        in_channels (int): Channels of the backbone's last stage (C).
        hid_channels (int): Hidden width of the neck's MLP.
        feat_dim (int): Projection size D (the queue holds D x K).
        queue_len (int): Queue length K.

    Returns:
        dict: The model config (types in mmpretrain's scope).
    """
    return dict(
        type='mmpretrain.MoCo',
        queue_len=queue_len,
        feat_dim=feat_dim,
        momentum=0.001,  # mmengine's EMA convention: 1 - m
        backbone=backbone,
        neck=dict(
            type='mmpretrain.MoCoV2Neck',
            in_channels=in_channels,
            hid_channels=hid_channels,
            out_channels=feat_dim,
            with_avg_pool=True),
        head=dict(
            type='mmpretrain.ContrastiveHead',
            loss=dict(type='mmpretrain.CrossEntropyLoss'),
            temperature=0.2))
