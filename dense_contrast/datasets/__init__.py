"""Datasets of dense_contrast."""
from .toyscenes import (TOYSCENES_CLASSES, TOYSCENES_PALETTE, ToyScenesDataset,
                        ToyScenesMismatchError, ensure_toyscenes,
                        generate_toyscenes, render_scene)
from .robust_loading import RobustLoadImageFromFile
from .transforms import ColorJitter, rotate_hue

__all__ = [
    'RobustLoadImageFromFile',
    'ColorJitter', 'rotate_hue', 'TOYSCENES_CLASSES', 'TOYSCENES_PALETTE', 'ToyScenesDataset',
    'ToyScenesMismatchError', 'ensure_toyscenes', 'generate_toyscenes',
    'render_scene'
]
