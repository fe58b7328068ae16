"""SIGTERM checkpoints and resumes exactly; a NaN loss stops without saving;
unreadable images are skipped and counted per epoch."""
import hashlib
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import dense_contrast  # noqa: F401
from dense_contrast.datasets import RobustLoadImageFromFile
from dense_contrast.engine.hooks import NonFiniteLossError

from tiny_run import BATCH, CONFIG, EPOCHS, ROOT, as_cli, run_options

STEP_LINE = re.compile(r'Epoch\(train\)\s+\[\d+\]\[\s*\d+/\d+\]')


def _train_cmd(work_dir, options, *extra):
    return [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG,
            '--work-dir', str(work_dir), *extra, '--cfg-options'
            ] + as_cli(options)


@pytest.mark.timeout(600)
def test_sigterm_mid_epoch_then_resume(tmp_path, tiny_toyscenes):
    options = run_options(*tiny_toyscenes)
    iters_per_epoch = tiny_toyscenes[1]['num_train'] // BATCH  # 6
    work_dir = tmp_path / 'work'
    log_path = tmp_path / 'first.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            _train_cmd(work_dir, options), cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, env=dict(os.environ,
                                               PYTHONUNBUFFERED='1'))
        deadline = time.time() + 300
        # Signal right after the first logged step, polling often: on free
        # cores a step takes a fraction of a second, and a signal that
        # lands on an epoch boundary would not test resuming mid-epoch.
        while '[1][1/6]' not in log_path.read_text():
            assert proc.poll() is None and time.time() < deadline, \
                log_path.read_text()[-3000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=300) == 128 + signal.SIGTERM
    first = log_path.read_text()
    saved = re.search(r'SIGTERM received: saved (\S+iter_(\d+)\.pth) after '
                      r'iteration (\d+); continue with --resume', first)
    assert saved, first[-3000:]
    done = int(saved[3])
    # The signal lands in epoch 1 or, on a fast machine, a little later:
    # either way inside an epoch, which is the case under test.
    epochs_done, done_in_epoch = divmod(done, iters_per_epoch)
    assert 0 < done_in_epoch and epochs_done < EPOCHS
    assert len(STEP_LINE.findall(first)) == done
    meta = torch.load(saved[1])['meta']
    assert (meta['epoch'], meta['iter']) == (epochs_done, done)

    resumed = subprocess.run(
        _train_cmd(work_dir, options, '--resume'), cwd=ROOT,
        capture_output=True, text=True, timeout=500)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert (f'Resuming inside epoch {epochs_done + 1}: skipping its first '
            f'{done_in_epoch} batches') in log
    total = EPOCHS * iters_per_epoch
    # Steps of both runs add up to an uninterrupted run's.
    assert len(STEP_LINE.findall(log)) == total - done
    final = torch.load(work_dir / f'epoch_{EPOCHS}.pth')['meta']
    assert (final['epoch'], final['iter']) == (EPOCHS, total)


class _PoisonWeights(Hook):
    """Fills a backbone weight with NaN before a given iteration."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.at_iter:
            with torch.no_grad():
                runner.model.backbone.conv1.weight.fill_(float('nan'))


def _sha(path) -> str:
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


@pytest.mark.timeout(600)
def test_nan_stops_without_saving_and_skips_bad_images(tmp_path,
                                                       tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    # A plain image folder: the toy scenes plus one truncated image.
    folder = tmp_path / 'images'
    shutil.copytree(osp.join(data_root, 'train', 'images'), folder)
    good = sorted(folder.iterdir())[0].read_bytes()
    (folder / 'zz_truncated.png').write_bytes(good[:len(good) // 2])
    options = run_options(data_root, toy_args)
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(options)
    pipeline = cfg.train_dataloader.dataset.pipeline
    cfg.train_dataloader.dataset = dict(
        type='mmpretrain.CustomDataset', data_root=str(folder),
        with_label=False, pipeline=pipeline)
    cfg.work_dir = str(tmp_path / 'work')
    iters_per_epoch = 13 // BATCH  # 6, drop_last
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_PoisonWeights(at_iter=iters_per_epoch + 1))
    first_ckpt = osp.join(cfg.work_dir, 'epoch_1.pth')

    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert (f'non-finite loss at iteration {iters_per_epoch + 2} (epoch 2, '
            'batch 2): loss=nan, loss_single=nan, loss_dense=nan. Stopped '
            f'without saving anything; last good checkpoint: {first_ckpt} '
            f'(continue with --resume {first_ckpt}') in message
    # Nothing written after the bad step; the good checkpoint loads and is
    # finite.
    assert sorted(f for f in os.listdir(cfg.work_dir)
                  if f.endswith('.pth')) == ['epoch_1.pth']
    saved = torch.load(first_ckpt)
    assert saved['meta']['iter'] == iters_per_epoch
    assert all(torch.isfinite(v).all() for v in saved['state_dict'].values()
               if v.is_floating_point())
    runner.model.load_state_dict(saved['state_dict'])
    # The truncated image was skipped (and counted) in epoch 1, not fatal.
    assert runner.message_hub.get_info('train/skipped_images') >= 1
    loaders = [t for t in runner.train_dataloader.dataset.pipeline.transforms
               if isinstance(t, RobustLoadImageFromFile)]
    assert loaders and loaders[0].num_skipped >= 1


def test_unreadable_image_fatal_when_configured(tmp_path):
    path = tmp_path / 'cut.png'
    from PIL import Image
    Image.new('RGB', (32, 32), (10, 200, 30)).save(path)
    path.write_bytes(path.read_bytes()[:40])
    skip = RobustLoadImageFromFile()
    assert skip(dict(img_path=str(path))) is None
    assert skip.num_skipped == 1
    with pytest.raises(RuntimeError) as info:
        RobustLoadImageFromFile(on_error='raise')(dict(img_path=str(path)))
    assert f"unreadable image '{path}'" in str(info.value)
    assert "Set on_error='skip'" in str(info.value)
