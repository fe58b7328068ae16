"""Datasets of dense_contrast."""
from .coco_multilabel import CocoMultiLabel, coco_image_labels
from .toyscenes import (TOYSCENES_CLASSES, TOYSCENES_PALETTE, ToyScenesDataset,
                        ToyScenesMismatchError, ensure_toyscenes,
                        generate_toyscenes, render_scene)
from .robust_loading import RobustLoadImageFromFile
from .transforms import ColorJitter, rotate_hue

__all__ = [
    'CocoMultiLabel', 'coco_image_labels', 'RobustLoadImageFromFile',
    'ColorJitter', 'rotate_hue', 'TOYSCENES_CLASSES', 'TOYSCENES_PALETTE', 'ToyScenesDataset',
    'ToyScenesMismatchError', 'ensure_toyscenes', 'generate_toyscenes',
    'render_scene'
]
