"""The ``mim`` command line on the installed package: ``mim train
dense_contrast CONFIG`` finds the config and ``tools/train.py`` under
``dense_contrast/.mim`` and trains, and ``mim run dense_contrast TOOL`` runs a
tool of ``tools/`` on the result.

openmim is a dependency of the ``tests`` extra (``requirements/tests.txt``);
nothing is downloaded.
"""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tiny_run import CONFIG, as_cli, run_options

EPOCHS = 1


def _mim(args: list, cwd: str) -> subprocess.CompletedProcess:
    """``mim ARGS`` with this interpreter (mim starts the tools with it)."""
    done = subprocess.run([sys.executable, '-m', 'mim', *args],
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=280)
    assert done.returncode == 0, (
        f'mim {" ".join(args[:3])} failed:\n' + done.stdout[-3000:] +
        done.stderr[-3000:])
    return done


def test_mim_finds_the_package():
    from mim.utils import get_installed_path, is_installed
    assert is_installed('dense_contrast')
    root = get_installed_path('dense_contrast')
    assert osp.isfile(osp.join(root, '.mim', 'tools', 'train.py'))
    assert osp.isfile(osp.join(root, '.mim', 'configs', 'densecl',
                               osp.basename(CONFIG)))


# 600 s, as the other tests of the tiny toy scenes: the limit covers the
# fixture, which generates the images when this test is the first to ask.
@pytest.mark.timeout(600)
def test_mim_train_then_mim_run(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    options = run_options(data_root, toy_args)
    options.update({
        'train_cfg.max_epochs': EPOCHS,
        'param_scheduler.0.T_max': EPOCHS,
        'param_scheduler.0.end': EPOCHS,
    })
    work_dir = tmp_path / 'work'
    # The bare config name: mim looks it up in the package's configs.
    trained = _mim([
        'train', 'dense_contrast',
        osp.basename(CONFIG), '--work-dir',
        str(work_dir), '--cfg-options', *as_cli(options)
    ], cwd=str(tmp_path))
    log = trained.stdout + trained.stderr
    assert f'will use {osp.realpath(CONFIG)} instead' in log, log[-2000:]
    assert 'Training finished successfully' in log, log[-2000:]
    iters = toy_args['num_train'] // options['train_dataloader.batch_size']
    assert f'Epoch(train) [1][{iters}/{iters}]' in log, log[-2000:]
    checkpoint = work_dir / f'epoch_{EPOCHS}.pth'
    assert checkpoint.is_file()

    backbone = tmp_path / 'backbone.pth'
    extracted = _mim([
        'run', 'dense_contrast', 'extract_backbone_weights',
        str(checkpoint),
        str(backbone)
    ], cwd=str(tmp_path))
    assert osp.join('.mim', 'tools', 'model_converters',
                    'extract_backbone_weights.py') in extracted.stdout
    assert 'Wrote' in extracted.stdout
    trained_state = torch.load(checkpoint)['state_dict']
    written = torch.load(backbone, weights_only=True)['state_dict']
    expected = {
        k[len('backbone.'):]: v
        for k, v in trained_state.items() if k.startswith('backbone.')
    }
    assert written.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.equal(written[name], value), name
