"""Toy scenes: a seeded generator of small multi-object images.

The data set exists so that pretraining demos and tests run on a CPU in
minutes with no download, and so that their numbers measure dense
representations rather than a shortcut. Each image shows 2-6 objects from
:data:`TOYSCENES_CLASSES` over a muted background with 1-3 clutter patches.

- The categories differ in shape and texture only. Every object draws its
  colours from one distribution, whatever its class, so colour alone is
  near chance (a per-pixel colour classifier is tested to be).
- Clutter patches are background: lumpy blobs in the objects' colours with
  distractor textures that no class uses (blotches, veins, flat), so
  that colour does not tell objects from background either: local texture
  and outline do, as in real images.
- Objects vary in scale (radius 4 to 25 % of the image, log-uniform), are
  rotated and occlude each other.

Layout written under a root (default ``data/toyscenes``)::

    root/
    ├── train/images/000000.png ...    RGB images, flat folder (pretraining)
    ├── train/semantic/000000.png ...  uint8 label maps, 0 = background,
    │                                  1..C = category (mmseg style,
    │                                  ``reduce_zero_label=False``)
    ├── val/images/ ...
    ├── val/semantic/ ...
    ├── test/images/, test/semantic/   held out: drawn from seed + 1000
    ├── annotations/instances_train.json  COCO instances (RLE masks)
    ├── annotations/instances_{val,test}.json
    └── meta.json                         written last: "generation finished"

Consistency rule between image, semantic map and COCO json: an instance
whose *visible* area (after occlusion by later instances and clipping at
the border) would be smaller than :data:`MIN_VISIBLE_AREA` pixels is removed
from the scene before anything is painted. Every object visible in the
image is therefore annotated, and painting the (non-overlapping) visible
instance masks with their category ids reproduces the semantic map exactly.

Determinism: image ``i`` of a split depends only on ``(seed, split, i)``
(``numpy.random.default_rng([seed, split_id, i])``, with ``seed + 1000``
for the test split), so results do not depend on how many worker processes
draw them. Make choices (schedules, sizes, learning rates) on val and
report numbers on test.

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
