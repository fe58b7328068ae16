"""The Makefile's demo names files that exist (a renamed config breaks it).

`make demo` is the first command a new user runs; its config paths are
plain text in the Makefile, so nothing else notices when one goes stale.
"""
import os.path as osp
import re

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _makefile_variable(text: str, name: str) -> list:
    """Words of a ``NAME ?= ...`` assignment, line continuations joined."""
    joined = text.replace('\\\n', ' ')
    match = re.search(rf'^{name}\s*\?=\s*(.*)$', joined, flags=re.MULTILINE)
    assert match, f'Makefile: no {name} ?= ... assignment'
    return match.group(1).split()


def test_demo_configs_exist():
    with open(osp.join(ROOT, 'Makefile')) as f:
        text = f.read()
    paths = (_makefile_variable(text, 'DEMO_CONFIG') +
             _makefile_variable(text, 'DEMO_DOWNSTREAM'))
    assert len(paths) == 2  # the pretraining config and one transfer
    missing = [p for p in paths if not osp.isfile(osp.join(ROOT, p))]
    assert not missing, f'Makefile names missing files: {missing}'
