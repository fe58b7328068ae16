"""A pretraining-only install, in a virtual environment of its own.

The environment is a new ``python -m venv`` whose site-packages holds only
what ``pip install dense_contrast`` plus mmcv would bring: the
distributions named by ``install_requires`` (torch, torchvision, mmengine,
mmpretrain, ...) and the ``mim`` extra (mmcv), with their requirement
closure read from the installed metadata. Each is linked from this
environment, so nothing is downloaded; mmdet and mmsegmentation are not
there at all. In it, ``import dense_contrast`` and one training step of the
toy DenseCL model work, and the downstream metric names the extra to
install.
"""
import json
import os
import os.path as osp
import runpy
import subprocess
import sys
import textwrap
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from tiny_run import CONFIG, MODEL_OPTIONS, ROOT

#: The downstream extra's packages, which must stay out of the environment.
DOWNSTREAM = ('mmdet', 'mmsegmentation')
INSTALL_HINT = "pip install -e '.[downstream]'"


def _canonical(name: str) -> str:
    return name.lower().replace('_', '-').replace('.', '-')


def _marker_holds(marker: Marker, extras: frozenset) -> bool:
    """Evaluate a requirement's marker for this interpreter and ``extras``."""
    if marker is None:
        return True
    return any(
        marker.evaluate({'extra': extra}) for extra in (extras or {''}))


def requirement_closure(requirements: list) -> dict:
    """Installed distributions that ``requirements`` need, transitively.

    Args:
        requirements (list[str]): PEP 508 requirement strings.

    Returns:
        dict[str, importlib.metadata.Distribution]: By canonical name.
        A requirement whose distribution is not installed is left out: the
        imports in the new environment then fail and say which.
    """
    found = {}
    todo = [(Requirement(r), frozenset()) for r in requirements]
    seen = set()
    while todo:
        req, parent_extras = todo.pop()
        if not _marker_holds(req.marker, parent_extras):
            continue
        key = (_canonical(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue
        found[key[0]] = dist
        todo += [(Requirement(r), frozenset(req.extras))
                 for r in dist.requires or []]
    return found


def _pretraining_requirements() -> list:
    """``install_requires`` and the ``mim`` extra, as setup.py reads them."""
    ns = runpy.run_path(osp.join(ROOT, 'setup.py'), run_name='setup_test')
    return (ns['read_requirements']('runtime.txt') +
            ns['extras']['mim'])


def _top_level_entries(dist) -> set:
    """The names a distribution puts directly in site-packages."""
    entries = set()
    for path in dist.files or []:
        top = path.parts[0]
        # Scripts and data outside site-packages, and the byte-code cache
        # of top-level modules, which Python rebuilds.
        if top in ('..', '__pycache__'):
            continue
        entries.add(top)
    return entries


def make_pretraining_env(where: str) -> str:
    """A venv at ``where`` with the pretraining dependencies linked in.

    Args:
        where (str): A new folder.

    Returns:
        str: Its Python interpreter.
    """
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', where],
                   check=True, capture_output=True, timeout=60)
    python = osp.join(where, 'bin', 'python')
    site = subprocess.run(
        [python, '-I', '-c', 'import sysconfig; '
         'print(sysconfig.get_paths()["purelib"])'],
        check=True, capture_output=True, text=True,
        timeout=60).stdout.strip()
    for dist in requirement_closure(_pretraining_requirements()).values():
        for name in _top_level_entries(dist):
            source = str(dist.locate_file(name))
            target = osp.join(site, name)
            if osp.exists(source) and not osp.lexists(target):
                os.symlink(source, target)
    # The package itself, as an install would put it.
    os.symlink(osp.join(ROOT, 'dense_contrast'),
               osp.join(site, 'dense_contrast'))
    return python


def test_closure_is_the_pretraining_stack_without_the_downstream_extra():
    names = set(requirement_closure(_pretraining_requirements()))
    assert {'torch', 'torchvision', 'mmengine', 'mmcv',
            'mmpretrain'} <= names
    assert not names & set(DOWNSTREAM), sorted(names & set(DOWNSTREAM))


def test_closure_follows_markers_and_extras():
    # mmengine needs termcolor and yapf; markers of other interpreters and
    # of extras not asked for are skipped.
    names = set(requirement_closure(['mmengine']))
    assert {'mmengine', 'termcolor', 'yapf'} <= names
    assert not names & {'mmcv', 'mmdet', 'pytest'}


@pytest.mark.timeout(120)
def test_import_and_train_step_in_a_fresh_env(tmp_path):
    python = make_pretraining_env(str(tmp_path / 'venv'))
    code = textwrap.dedent(f'''
        import importlib.util
        import json
        import sys

        # The downstream packages are really absent, not hidden.
        for name in ('mmdet', 'mmseg'):
            assert importlib.util.find_spec(name) is None, name
        assert not sys.flags.no_site and sys.prefix != sys.base_prefix

        import torch
        from mmengine.config import Config
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import init_default_scope

        import dense_contrast
        from dense_contrast.apis import make_batch
        from dense_contrast.registry import MODELS

        # One training step of the toy DenseCL model (tiny widths).
        init_default_scope('dense_contrast')
        cfg = Config.fromfile({CONFIG!r})
        cfg.merge_from_dict(json.loads({json.dumps(MODEL_OPTIONS)!r}))
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        model.init_weights()
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        batch = make_batch(cfg, 2, source_size=64, seed=0)
        before = model.backbone.conv1.weight.detach().clone()
        log_vars = model.train_step(batch, wrapper)
        assert torch.isfinite(log_vars['loss']), log_vars
        assert not torch.equal(before, model.backbone.conv1.weight)

        # The downstream metric names the extra that installs mmdet.
        try:
            from dense_contrast.evaluation import VOCCocoStyleMetric
        except ImportError as err:
            print('error:', type(err).__name__, err)
        else:
            raise AssertionError('the VOC metric imported without mmdet')
        print('loaded:', json.dumps(sorted(
            m for m in sys.modules if m.split('.')[0] in
            ('torch', 'mmengine', 'mmcv', 'mmpretrain', 'dense_contrast',
             'mmdet', 'mmseg') and '.' not in m)))
        print('files:', dense_contrast.__file__, torch.__file__)
    ''')
    env = {
        k: v
        for k, v in os.environ.items() if not k.startswith('PYTHON')
    }
    # -I: no PYTHONPATH, no user site-packages, no current folder on the
    # path; the new environment's site-packages is all there is.
    done = subprocess.run([python, '-I', '-c', code],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=110)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    error = next(line for line in lines if line.startswith('error:'))
    assert 'MissingExtraError' in error, error
    assert 'VOCCocoStyleMetric needs mmdet' in error, error
    assert INSTALL_HINT in error, error
    loaded = json.loads(
        next(line for line in lines if line.startswith('loaded:'))[7:])
    assert loaded == ['dense_contrast', 'mmcv', 'mmengine', 'mmpretrain',
                      'torch'], loaded
    files = next(line for line in lines if line.startswith('files:'))
    assert str(tmp_path / 'venv') in files, files
