"""dense_contrast: dense contrastive self-supervised pretraining for OpenMMLab.

Importing the package registers every component in the ``dense_contrast``
registry scope (children of mmpretrain's registries, see :mod:`.registry`)
and allowlists the few harmless classes that mmengine checkpoints contain, so
that ``torch.load`` keeps ``weights_only=True`` (see :mod:`.utils.checkpoint`).
It does not import mmdet or mmseg (the ``downstream`` extra): the names that
need them (``dense_contrast.evaluation.DOWNSTREAM_EXPORTS``, such as
``VOCCocoStyleMetric``) are imported on first access (see
:mod:`.utils.extras`).

Shape letters used throughout the package:
    N: images per process, B: global batch (N x world size),
    C: backbone channels, D: projection dimension,
    H x W: a feature grid, S = H * W locations,
    K: queue length, V: number of views.
"""
from .version import __version__
from .utils import register_safe_globals

register_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402
from .datasets import *  # noqa: E402,F401,F403
from .engine import *  # noqa: E402,F401,F403
from .evaluation import *  # noqa: E402,F401,F403
from .models import *  # noqa: E402,F401,F403

__all__ = (['__version__'] + datasets.__all__ + engine.__all__ +
           evaluation.__all__ +
           models.__all__)


def __getattr__(name: str):
    """Resolve the lazily imported names of :mod:`.evaluation`.

    mmdet configs name ``type='dense_contrast.VOCCocoStyleMetric'``, which
    mmengine resolves by attribute access on this package.

    Args:
        name (str): The attribute asked for.

    Returns:
        Any: The object.

    Raises:
        AttributeError: If ``name`` is not a lazy export either.
        MissingExtraError: If its optional dependency is missing.
    """
    if name in evaluation.DOWNSTREAM_EXPORTS:
        return getattr(evaluation, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
