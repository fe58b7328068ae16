"""tools/train.py on the toy config, then --resume from a mid-run checkpoint.

The first run goes through the real command line (a subprocess); the resumed
run is built in-process with the option handling the tool calls
(``dense_contrast.apis.merge_train_options``), so that a hook can snapshot
the state right after the checkpoint was loaded.
"""
import argparse
import copy
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

import dense_contrast  # noqa: F401
from dense_contrast.apis import merge_train_options

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = osp.join(ROOT, 'configs', 'densecl',
                  'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
EPOCHS = 3
BATCH = 4


def _options(data_root: str, toy_args: dict) -> list:
    return [f'train_dataloader.dataset.data_root={data_root}'] + [
        f'train_dataloader.dataset.{k}={v}' for k, v in toy_args.items()
    ] + [
        f'train_dataloader.batch_size={BATCH}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        # 64 px crops: a 2x2 grid; queue of 10 so the pointer wraps mid-batch
        'crop_size=64',
        'model.queue_len=10',
        'model.neck.hid_channels=32',
        f'train_cfg.max_epochs={EPOCHS}',
        f'param_scheduler.0.T_max={EPOCHS}',
        f'param_scheduler.0.end={EPOCHS}',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
    ]


def _parse_cfg_options(words: list) -> dict:
    """``key=value`` words as ``--cfg-options`` reads them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *words]).cfg_options


class _SnapshotAfterResume(Hook):
    """Records the runner's state when training (re)starts."""

    def before_train(self, runner) -> None:
        self.state = dict(
            model=copy.deepcopy(runner.model.state_dict()),
            optimizer=copy.deepcopy(runner.optim_wrapper.state_dict()),
            schedulers=[s.state_dict() for s in runner.param_schedulers],
            epoch=runner.epoch,
            iter=runner.iter)


def _assert_nested_equal(a, b, where=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_nested_equal(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_nested_equal(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a} != {b}'


@pytest.mark.timeout(600)
def test_train_then_resume(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    num_train = toy_args['num_train']  # 3 iterations an epoch
    work_dir = tmp_path / 'work'
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        str(work_dir), '--cfg-options'
    ] + _options(data_root, toy_args)
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert 'loss_single' in log and 'loss_dense' in log
    for epoch in range(1, EPOCHS + 1):
        assert (work_dir / f'epoch_{epoch}.pth').is_file()

    # The checkpoint loads with weights_only=True (the default).
    saved = torch.load(work_dir / 'epoch_2.pth')
    assert saved['meta']['epoch'] == 2
    assert saved['meta']['iter'] == 2 * num_train // BATCH

    # Resume from epoch 2 in a fresh work dir, through train.py's options.
    resume_dir = tmp_path / 'resumed'
    cfg = merge_train_options(
        Config.fromfile(CONFIG), CONFIG, work_dir=str(resume_dir),
        resume=str(work_dir / 'epoch_2.pth'),
        cfg_options=_parse_cfg_options(_options(data_root, toy_args)))
    runner = Runner.from_cfg(cfg)
    snapshot = _SnapshotAfterResume()
    runner.register_hook(snapshot)
    runner.train()

    state = snapshot.state
    assert state['epoch'] == 2
    assert state['iter'] == saved['meta']['iter']
    # Weights, EMA encoder, queues and pointers.
    _assert_nested_equal(state['model'], saved['state_dict'], 'state_dict')
    assert int(state['model']['global_queue.ptr']) == (2 * num_train) % 10
    _assert_nested_equal(state['optimizer'], saved['optimizer'], 'optimizer')
    _assert_nested_equal(state['schedulers'], saved['param_schedulers'],
                         'param_schedulers')
    # And the run finished the remaining epoch.
    assert runner.epoch == EPOCHS
    assert runner.iter == EPOCHS * num_train // BATCH
    assert (resume_dir / f'epoch_{EPOCHS}.pth').is_file()
    assert not (resume_dir / 'epoch_1.pth').exists()


@pytest.mark.timeout(600)
def test_resume_with_own_hook_list(tmp_path, tiny_toyscenes):
    """A config whose ``custom_hooks`` drops SafeCheckpointHook (a child's
    list replaces its base's) still writes checkpoints that load with
    ``weights_only=True``, and ``--resume`` continues from them."""
    from tiny_run import as_cli, run_options, tiny_config_file

    from dense_contrast.apis import SAFE_HOOK_ADDED

    config = tiny_config_file(str(tmp_path / 'own_hooks.py'))
    with open(config, 'a') as f:
        f.write('custom_hooks = []\n')
    assert Config.fromfile(config).custom_hooks == []
    work_dir = tmp_path / 'work'
    options = run_options(*tiny_toyscenes)
    options.update({
        # one epoch of a two-epoch schedule, then --resume for the second
        'train_cfg.max_epochs': 1,
        'param_scheduler.0.T_max': 2,
        'param_scheduler.0.end': 2,
    })

    def train(*extra):
        done = subprocess.run(
            [sys.executable,
             osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
             str(work_dir), *extra, '--cfg-options', *as_cli(options)],
            cwd=ROOT, capture_output=True, text=True, timeout=500)
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-4000:]
        return log

    log = train()
    assert SAFE_HOOK_ADDED in log
    first = torch.load(work_dir / 'epoch_1.pth')  # weights_only=True
    assert first['meta']['epoch'] == 1

    options['train_cfg.max_epochs'] = 2
    log = train('--resume')
    assert 'Auto resumed from the latest checkpoint' in log, log[-4000:]
    assert 'resumed epoch: 1' in log, log[-4000:]
    second = torch.load(work_dir / 'epoch_2.pth')
    assert second['meta']['epoch'] == 2
    assert second['meta']['iter'] == 2 * first['meta']['iter']


def test_ensure_safe_checkpoint_hook_finds_it_by_type():
    from dense_contrast.apis import ensure_safe_checkpoint_hook
    from dense_contrast.engine import SafeCheckpointHook

    class OwnSafeHook(SafeCheckpointHook):
        pass

    listed = [
        dict(custom_hooks=[dict(type='SafeCheckpointHook', check=False)]),
        dict(custom_hooks=[dict(type='dense_contrast.SafeCheckpointHook')]),
        dict(custom_hooks=[dict(type=OwnSafeHook)]),
        dict(custom_hooks=[SafeCheckpointHook()]),
        dict(default_hooks=dict(
            safe=dict(type='dense_contrast.SafeCheckpointHook'))),
    ]
    for entries in listed:
        cfg = Config(copy.deepcopy(entries))
        assert not ensure_safe_checkpoint_hook(cfg), entries
        assert len(cfg.get('custom_hooks') or []) == len(
            entries.get('custom_hooks') or []), entries

    cfg = Config(dict(custom_hooks=[dict(type='NonFiniteLossHook')],
                      default_hooks=dict(checkpoint=None)))
    assert ensure_safe_checkpoint_hook(cfg)
    assert cfg.custom_hooks == [
        dict(type='NonFiniteLossHook'), dict(type='SafeCheckpointHook')
    ]
    cfg = Config(dict())
    assert ensure_safe_checkpoint_hook(cfg)
    assert cfg.custom_hooks == [dict(type='SafeCheckpointHook')]
