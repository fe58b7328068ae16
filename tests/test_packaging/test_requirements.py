"""Requirements: ranges in the package, exact pins in the constraints file.

``pip install dense_contrast`` must not replace a user's own torch (a CUDA
build, say) or mmcv; the exact tested versions live in
``requirements/constraints.txt``, which ``tools/setup_env.sh`` applies.
"""
import os.path as osp
import runpy
from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONSTRAINTS = osp.join(ROOT, 'requirements', 'constraints.txt')
#: Packages that a user's environment often brings in its own build.
USER_BUILT = ('torch', 'torchvision', 'mmcv')


def _setup_namespace() -> dict:
    """setup.py's globals, without running ``setup()`` (guarded by
    ``__name__ == '__main__'``)."""
    return runpy.run_path(osp.join(ROOT, 'setup.py'), run_name='setup_test')


def _constraints() -> dict:
    pins = {}
    with open(CONSTRAINTS) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                req = Requirement(line)
                specs = list(req.specifier)
                assert len(specs) == 1 and specs[0].operator == '==', (
                    f'{CONSTRAINTS}: {line!r} is not NAME==VERSION')
                pins[req.name.lower()] = specs[0].version
    return pins


def test_install_requires_has_no_exact_pins_of_user_built_packages():
    ns = _setup_namespace()
    install_requires = [
        Requirement(r) for r in ns['read_requirements']('runtime.txt')
    ]
    names = {r.name.lower() for r in install_requires}
    assert {'torch', 'torchvision', 'mmengine', 'mmpretrain'} <= names
    # mmcv comes through the mim extra, as in mmpretrain.
    assert 'mmcv' not in names
    assert [Requirement(r).name for r in ns['extras']['mim']] == ['mmcv']
    every = install_requires + [
        Requirement(r) for reqs in ns['extras'].values() for r in reqs
    ]
    for req in every:
        for spec in req.specifier:
            if req.name.lower() in USER_BUILT:
                assert spec.operator not in ('==', '==='), str(req)


@pytest.mark.parametrize('name,admitted', [
    ('torch', ['2.4.0', '2.5.1+cu121', '2.14.1']),
    ('torchvision', ['0.19.0', '0.29.1']),
])
def test_torch_ranges_admit_user_versions(name, admitted):
    ns = _setup_namespace()
    req = next(
        Requirement(r) for r in ns['read_requirements']('runtime.txt')
        if Requirement(r).name == name)
    for v in admitted:
        assert req.specifier.contains(Version(v), prereleases=True), (req, v)


def test_ranges_admit_the_constraints():
    ns = _setup_namespace()
    pins = _constraints()
    reqs = ns['read_requirements']('runtime.txt') + [
        r for reqs in ns['extras'].values() for r in reqs
    ]
    for line in reqs:
        req = Requirement(line)
        if req.name.lower() in pins:
            assert req.specifier.contains(pins[req.name.lower()]), (
                f'{line} excludes the tested {req.name}=='
                f'{pins[req.name.lower()]}')


def test_constraints_pin_what_the_environment_has():
    pins = _constraints()
    assert set(USER_BUILT) <= set(pins)
    for name, pinned in pins.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f'{name} is pinned in {CONSTRAINTS} but not '
                        'installed')
        # A local build tag (+cpu, +cu121) is the same release.
        assert Version(installed).public == Version(pinned).public, (
            f'{CONSTRAINTS} pins {name}=={pinned}, the environment has '
            f'{installed}')


def test_setup_env_uses_the_constraints_file():
    with open(osp.join(ROOT, 'tools', 'setup_env.sh')) as f:
        script = f.read()
    assert 'requirements/constraints.txt' in script
    assert '-c "$CONSTRAINTS"' in script
    # No version number is written into the script itself.
    for pinned in _constraints().values():
        assert f'=={pinned}' not in script and f'={pinned}\n' not in script
