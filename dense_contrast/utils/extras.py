"""Optional dependencies: import them on use, and say which extra installs
them when they are missing.

The pretraining core needs only mmengine, mmcv and mmpretrain. Detection and
segmentation transfer (mmdet, mmsegmentation) come with the ``downstream``
extra of ``setup.py`` (``requirements/downstream.txt``), so ``import
dense_contrast`` must not import them: code that needs one imports it
through :func:`import_optional`, at the point of use.
"""
import importlib
from types import ModuleType

__all__ = ['MissingExtraError', 'import_optional', 'EXTRA_OF_PACKAGE']

#: Top-level module -> (distribution on PyPI, extra of ``setup.py`` that
#: installs it).
EXTRA_OF_PACKAGE = {
    'mmdet': ('mmdet', 'downstream'),
    'mmseg': ('mmsegmentation', 'downstream'),
    # Optional fast nearest-neighbour search of the dense retrieval.
    'faiss': ('faiss-cpu', 'retrieval'),
}


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra that
    installs it."""


def import_optional(module: str, feature: str) -> ModuleType:
    """Import a module of an optional dependency, or explain how to get it.

    Args:
        module (str): Dotted module name, e.g. ``'mmdet.evaluation'``. Its
            top-level package must be a key of :data:`EXTRA_OF_PACKAGE`.
        feature (str): What needs it, for the message, e.g.
            ``'dense_contrast.VOCCocoStyleMetric'``.

    Returns:
        ModuleType: The imported module.

    Raises:
        KeyError: If the top-level package of ``module`` is not listed in
            :data:`EXTRA_OF_PACKAGE` (a programming error).
        MissingExtraError: If the import fails with an ``ImportError``; the
            message names the distribution, the extra and the command that
            installs it, and keeps the original error.
    """
    top = module.split('.', 1)[0]
    distribution, extra = EXTRA_OF_PACKAGE[top]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f'{feature} needs {distribution}, which is not installed or '
            f'does not import ({type(err).__name__}: {err}). It is part of '
            f"dense_contrast's '{extra}' extra: from the repository root run "
            f"pip install -e '.[{extra}]' (mmcv with its compiled ops is "
            'built by tools/setup_env.sh, see docs/get_started.md).') from err
