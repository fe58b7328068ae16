"""The one place that calls mmengine internals which have no public form."""
from typing import List

from mmengine.config import Config

__all__ = ['config_base_files']


def config_base_files(path: str) -> List[str]:
    """The ``_base_`` entries a config file names, without loading it.

    mmengine has no public way to list a file's bases short of building
    the whole merged config (``Config.fromfile``), which loses which file
    set what. ``Config._get_base_files`` reads just the ``_base_``
    assignment (Python, YAML or JSON files); checked against mmengine
    0.10.7. Replace this call if mmengine renames or drops the method.

    Args:
        path (str): A config file.

    Returns:
        list[str]: The base entries as written (relative to the file's
        folder, or ``package::path`` for another package's configs).

    Raises:
        Exception: Whatever mmengine raises for an unreadable file or an
            unknown file type.
    """
    return Config._get_base_files(path)
