"""Image loading that survives corrupt or truncated files."""
import multiprocessing
from typing import Optional

from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log

from dense_contrast.registry import TRANSFORMS

__all__ = ['RobustLoadImageFromFile']


@TRANSFORMS.register_module()
class RobustLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that skips images it cannot decode.

    A file that cannot be read or decoded (corrupt, truncated, empty, not an
    image) makes the transform return None. mmengine's dataset then draws
    another sample in its place (``BaseDataset.max_refetch``), so the batch
    keeps its size. Each skip logs a warning with the file, the reason and
    the running count; :class:`SkippedImagesHook` reports the count per
    epoch. The count lives in shared memory, so dataloader worker processes
    add to the same number.

    Args:
        on_error (str): ``'skip'`` (default) or ``'raise'``, which makes an
            unreadable image a fatal error naming the file.
        **kwargs: Arguments of mmcv's ``LoadImageFromFile`` (``to_float32``,
            ``color_type``, ``imdecode_backend``, ``backend_args``).
            ``ignore_empty`` is not accepted: ``on_error`` replaces it.
    """

    def __init__(self, on_error: str = 'skip', **kwargs) -> None:
        if on_error not in ('skip', 'raise'):
            raise ValueError(
                f"on_error must be 'skip' or 'raise', got {on_error!r}")
        if 'ignore_empty' in kwargs:
            raise TypeError("RobustLoadImageFromFile: use on_error='skip' "
                            'instead of ignore_empty')
        super().__init__(**kwargs)
        self.on_error = on_error
        self._skipped = multiprocessing.Value('q', 0)

    @property
    def num_skipped(self) -> int:
        """Images skipped so far, over all processes sharing this object."""
        return int(self._skipped.value)

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']``; None when it cannot be decoded.

        Args:
            results (dict): With ``img_path``.

        Returns:
            dict, optional: ``results`` with ``img``, ``img_shape`` and
            ``ori_shape``; None for a skipped image.
        """
        try:
            # mmcv asserts on undecodable bytes (cv2 returns None for
            # truncated PNG/JPEG files); pillow raises OSError.
            return super().transform(results)
        except Exception as err:  # noqa: BLE001
            reason = f'{type(err).__name__}: {err}'
            if self.on_error == 'raise':
                raise RuntimeError(
                    f'unreadable image {results.get("img_path")!r} ({reason}).'
                    " Set on_error='skip' on RobustLoadImageFromFile to skip "
                    'such images.') from err
        with self._skipped.get_lock():
            self._skipped.value += 1
            count = self._skipped.value
        print_log(
            f'Skipping unreadable image {results.get("img_path")!r} '
            f'({reason}); {count} skipped so far.',
            logger='current',
            level=30)
        return None

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", on_error='{self.on_error}')"
