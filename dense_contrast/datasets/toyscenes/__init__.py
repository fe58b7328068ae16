"""Toy scenes: a seeded generator of small multi-object images.

The data set exists so that pretraining demos and tests run on a CPU in
minutes with no download. Each image shows 2-6 objects from
:data:`TOYSCENES_CLASSES` on a muted, textured background. The categories
differ in *both* shape and texture (and colour palette), so a dense
contrastive model has local cues (texture) as well as global ones (shape) to
learn from, and the labels are good enough for downstream detection and
semantic segmentation checks.

Layout written under a root (default ``data/toyscenes``)::

    root/
    ├── train/images/000000.png ...    RGB images, flat folder (pretraining)
    ├── train/semantic/000000.png ...  uint8 label maps, 0 = background,
    │                                  1..C = category (mmseg style,
    │                                  ``reduce_zero_label=False``)
    ├── val/images/ ...
    ├── val/semantic/ ...
    ├── annotations/instances_train.json  COCO instances (RLE masks)
    ├── annotations/instances_val.json
    └── meta.json                         written last: "generation finished"

Consistency rule between image, semantic map and COCO json: an instance
whose *visible* area (after occlusion by later instances and clipping at
the border) would be smaller than :data:`MIN_VISIBLE_AREA` pixels is removed
from the scene before anything is painted. Every object visible in the
image is therefore annotated, and painting the (non-overlapping) visible
instance masks with their category ids reproduces the semantic map exactly.

Determinism: image ``i`` of a split depends only on ``(seed, split, i)``
(``numpy.random.default_rng([seed, split_id, i])``), so results do not
depend on how many worker processes draw them.

Modules: :mod:`.appearance` (classes, palette, shapes, textures),
:mod:`.render` (one scene), :mod:`.generate` (writing and checking a data
set on disk), :mod:`.dataset` (:class:`ToyScenesDataset`).
"""
from .appearance import TOYSCENES_CLASSES, TOYSCENES_PALETTE
from .dataset import ToyScenesDataset
from .generate import (ToyScenesMismatchError, ensure_toyscenes,
                       generate_toyscenes)
from .render import Scene, render_scene

__all__ = [
    'TOYSCENES_CLASSES', 'TOYSCENES_PALETTE', 'ToyScenesMismatchError',
    'Scene', 'render_scene', 'generate_toyscenes', 'ensure_toyscenes',
    'ToyScenesDataset'
]
