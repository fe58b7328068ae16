"""Name the config file (or ``--cfg-options``) that sets a dotted key."""
import os.path as osp
import re
from typing import Dict, List, Optional

from dense_contrast.utils.mmengine_compat import config_base_files

__all__ = ['KeyOrigin']


def _config_files(path: str) -> List[str]:
    """The config file and every ``_base_`` file it inherits, leaf first.

    Args:
        path (str): A config file.

    Returns:
        list[str]: Paths as given (relative paths resolved against the
        directory of the file that names them).
    """
    files, todo = [], [path]
    while todo:
        current = todo.pop(0)
        if current in files or not osp.isfile(current):
            continue
        files.append(current)
        try:
            bases = config_base_files(current)
        except Exception:  # noqa: BLE001  (a best-effort hint only)
            bases = []
        todo.extend(
            osp.normpath(osp.join(osp.dirname(current), base))
            for base in bases if '::' not in base)
    return files


class KeyOrigin:
    """Names the file (or ``--cfg-options``) that sets a dotted key.

    Args:
        config_path (str, optional): The config given on the command line.
        cfg_options (dict, optional): The ``--cfg-options`` overrides.
    """

    def __init__(self,
                 config_path: Optional[str],
                 cfg_options: Optional[dict] = None) -> None:
        self.files = _config_files(config_path) if config_path else []
        self.options = {str(k) for k in (cfg_options or {})}
        self._texts: Dict[str, str] = {}

    def _text(self, path: str) -> str:
        if path not in self._texts:
            with open(path, encoding='utf-8') as f:
                self._texts[path] = f.read()
        return self._texts[path]

    def __call__(self, dotted: str, value: Optional[str] = None) -> str:
        """Describe where ``dotted`` (e.g. ``model.neck.hid_channel``) is set.

        Args:
            dotted (str): The dotted key.
            value (str, optional): Its string value; when given, the file
                that spells it (e.g. a type name) is searched instead.

        Returns:
            str: e.g. ``"configs/_base_/models/densecl_r50.py"`` or
            ``"--cfg-options"``; ``"the config"`` when nothing matches.
        """
        if any(opt == dotted or opt.startswith(dotted + '.')
               for opt in self.options):
            return '--cfg-options'
        leaf = dotted.rsplit('.', 1)[-1]
        if leaf.isdigit():  # a list index: look for the enclosing key
            leaf = dotted.split('.')[-2]
        pattern = re.compile(rf'(?<![\w.]){re.escape(leaf)}\s*=')
        if value is not None:
            pattern = re.compile(rf'[\'"]{re.escape(value)}[\'"]')
        found = [f for f in self.files if pattern.search(self._text(f))]
        if found:
            return found[0]
        return self.files[0] if self.files else 'the config'
