"""Data transforms of the dense_contrast scope."""
from typing import Dict

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter as MMPretrainColorJitter
from PIL import Image

from dense_contrast.registry import TRANSFORMS


def rotate_hue(img: np.ndarray, hue_factor: float) -> np.ndarray:
    """Rotate the hue of a BGR uint8 image, as mmcv's pillow ``adjust_hue``.

    PIL stores hue in [0, 255], so the rotation is ``int(hue_factor * 255)``
    added modulo 256. mmcv 2.1.0 computes it as ``np.uint8(hue_factor * 255)``,
    which numpy >= 2 refuses for negative factors (NEP 50); this is the same
    arithmetic without the overflow.

    Args:
        img (np.ndarray): BGR image, uint8. Shape (H, W, 3).
        hue_factor (float): Rotation as a fraction of the hue circle, in
            [-0.5, 0.5].

    Returns:
        np.ndarray: The rotated BGR image. Shape (H, W, 3), uint8.
    """
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor must be in [-0.5, 0.5], got {hue_factor}')
    hue, saturation, value = Image.fromarray(
        np.ascontiguousarray(img[..., ::-1])).convert('HSV').split()
    shift = int(hue_factor * 255) % 256
    hue = Image.fromarray(
        ((np.asarray(hue, dtype=np.int16) + shift) % 256).astype(np.uint8))
    rgb = Image.merge('HSV', (hue, saturation, value)).convert('RGB')
    return np.asarray(rgb, dtype=np.uint8)[..., ::-1].copy()


@TRANSFORMS.register_module()
class ColorJitter(MMPretrainColorJitter):
    """mmpretrain's ``ColorJitter`` with a hue step that works on numpy 2.

    Same arguments, random draws and order of operations as
    :class:`mmpretrain.datasets.transforms.ColorJitter`; only the pillow hue
    rotation goes through :func:`rotate_hue`. In the ``dense_contrast``
    scope this class shadows mmpretrain's, so configs keep writing
    ``dict(type='ColorJitter', ...)``.

    Required Keys:
        - img

    Modified Keys:
        - img
    """

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:
            if index == 0 and brightness is not None:
                img = mmcv.adjust_brightness(
                    img, brightness, backend=self.backend)
            elif index == 1 and contrast is not None:
                img = mmcv.adjust_contrast(img, contrast, backend=self.backend)
            elif index == 2 and saturation is not None:
                img = mmcv.adjust_color(
                    img, alpha=saturation, backend=self.backend)
            elif index == 3 and hue is not None:
                img = (rotate_hue(img, hue) if self.backend == 'pillow' else
                       mmcv.adjust_hue(img, hue, backend=self.backend))
        results['img'] = img
        return results
