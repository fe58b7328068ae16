"""Packaging for dense_contrast, an OpenMMLab plugin for dense contrastive pretraining."""
import os
import os.path as osp
import re
import shutil
import sys

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


#: What ``dense_contrast/.mim`` holds for ``mim train`` / ``mim run``.
MIM_FILES = ('tools', 'configs', 'requirements', 'model-index.yml')


def add_mim_extension(root: str = HERE, mode: str = None) -> str:
    """Put tools, configs and the model index under ``dense_contrast/.mim``.

    ``mim train dense_contrast CONFIG`` and ``mim run dense_contrast TOOL``
    look for ``<package>/.mim/tools`` and ``<package>/.mim/configs``, as in
    mmpretrain's packaging. An editable install links them (relative
    symbolic links, so the checkout stays movable); a built wheel or sdist
    gets copies.

    Args:
        root (str): The repository root. Defaults to this file's folder.
        mode (str, optional): ``'symlink'``, ``'copy'`` or None: chosen
            from the setuptools command in ``sys.argv`` (``develop`` and
            ``editable_wheel`` link, ``sdist``, ``bdist_wheel`` and
            ``build`` copy, anything else does nothing). Defaults to None.

    Returns:
        str: The mode used, or ``'none'`` when nothing was done.

    Raises:
        ValueError: If ``mode`` is not one of the above.
    """
    if mode is None:
        if {'develop', 'editable_wheel'} & set(sys.argv):
            mode = 'copy' if os.name == 'nt' else 'symlink'
        elif {'sdist', 'bdist_wheel', 'build'} & set(sys.argv):
            mode = 'copy'
        else:
            return 'none'
    if mode not in ('symlink', 'copy'):
        raise ValueError(f"mode must be 'symlink' or 'copy', got {mode!r}")
    mim_path = osp.join(root, 'dense_contrast', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(root, name)
        if not osp.exists(src):
            continue
        dst = osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(src, dst)
    return mode


extras = {
    'downstream': read_requirements('downstream.txt'),
    'tests': read_requirements('tests.txt'),
    'optional': read_requirements('optional.txt'),
    # faiss for the dense retrieval; left out of 'all' (torch's search
    # finds the same neighbours, and the tested environment has no faiss).
    'retrieval': read_requirements('retrieval.txt'),
}
extras['all'] = sorted(
    {r for name, reqs in extras.items() if name != 'retrieval' for r in reqs})
# mmcv through mim, which picks the build matching torch and CUDA.
extras['mim'] = read_requirements('mminstall.txt')

if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='dense_contrast',
        version=read_version(),
        description='Dense contrastive self-supervised pretraining '
        '(DenseCL, DSC, MCL, DenseCL++) as OpenMMLab components',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        python_requires='>=3.9',
        packages=find_packages(exclude=('tests', 'tools', 'configs')),
        include_package_data=True,
        install_requires=read_requirements('runtime.txt'),
        extras_require=extras,
        license='Apache-2.0',
        zip_safe=False,
    )
