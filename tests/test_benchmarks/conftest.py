import importlib.util
import os.path as osp
import sys

# tools/transfer.py as an importable module ``tools_transfer`` for the tests.
_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if 'tools_transfer' not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        'tools_transfer', osp.join(_ROOT, 'tools', 'transfer.py'))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules['tools_transfer'] = _module
    _spec.loader.exec_module(_module)
