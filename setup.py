"""Packaging for dense_contrast, an OpenMMLab plugin for dense contrastive pretraining."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Read one file of ``requirements/``, dropping comments and ``-r`` lines."""
    lines = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                lines.append(line)
    return lines


def read_version() -> str:
    with open(osp.join(HERE, 'dense_contrast', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


extras = {
    'downstream': read_requirements('downstream.txt'),
    'tests': read_requirements('tests.txt'),
    'optional': read_requirements('optional.txt'),
}
extras['all'] = sorted({r for reqs in extras.values() for r in reqs})

setup(
    name='dense_contrast',
    version=read_version(),
    description='Dense contrastive self-supervised pretraining (DenseCL, DSC, MCL, '
    'DenseCL++) as OpenMMLab components',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(exclude=('tests', 'tools', 'configs')),
    include_package_data=True,
    install_requires=read_requirements('runtime.txt') + read_requirements('mminstall.txt'),
    extras_require=extras,
    license='Apache-2.0',
    zip_safe=False,
)
