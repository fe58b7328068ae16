"""Checkpoints written by pretraining load under ``weights_only=True``.

A real mmengine ``Runner`` trains a toy model for two short epochs with and
without ``SafeCheckpointHook``; the hooked checkpoint must load with plain
``torch.load(path)`` and resume exactly, while malicious pickles stay
refused.
"""
import ast
import builtins
import fractions
import os
import os.path as osp
import pickle
import pickletools
import subprocess
import sys
import textwrap
from collections import OrderedDict
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
from torch.utils.data import DataLoader, Dataset

import dense_contrast  # noqa: F401  (the package registers its safe globals)
from dense_contrast.engine.hooks.safe_checkpoint_hook import \
    SafeCheckpointHook
from dense_contrast.registry import HOOKS
from dense_contrast.utils.checkpoint import (find_unsafe_globals,
                                             make_checkpoint_safe,
                                             register_safe_globals,
                                             safe_checkpoint_globals,
                                             warn_if_unsafe)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAMPLES, BATCH = 8, 2
ITERS_PER_EPOCH = SAMPLES // BATCH
HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'


class ToyDataset(Dataset):
    """Fixed random samples; numpy objects in ``metainfo`` like real ones."""

    metainfo = dict(
        classes=('a', 'b'),
        palette=np.array([[0, 0, 0], [255, 0, 0]], dtype=np.uint8),
        scale=np.float32(0.5))

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(SAMPLES, 4, generator=generator)
        self.targets = torch.randn(SAMPLES, 1, generator=generator)

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.inputs[index], targets=self.targets[index])


class ToyModel(BaseModel):
    """Linear regression with a BatchNorm, so buffers are saved as well."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(4)
        self.linear = nn.Linear(4, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(self.norm(inputs))
        if mode == 'loss':
            return dict(loss=((out - targets)**2).mean())
        return out


class NumpyInfoHook(Hook):
    """Stores numpy values in the message hub as metric hooks may do."""

    def after_train_epoch(self, runner) -> None:
        runner.message_hub.update_info('best_score', np.float64(0.25))
        runner.message_hub.update_info('best_epoch', np.int64(runner.epoch))
        runner.message_hub.update_info('per_class', np.arange(3.0))


def build_runner(work_dir: str,
                 name: str,
                 max_epochs: int,
                 safe: bool = True,
                 resume: bool = False) -> Runner:
    """A runner like the pretraining configs, on a toy model and dataset."""
    custom_hooks = [NumpyInfoHook()]
    if safe:
        # By type name, as the configs do: checks the registration too.
        custom_hooks.append(dict(type='SafeCheckpointHook'))
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=name,  # distinct names: distinct MessageHub instances
        train_dataloader=DataLoader(
            ToyDataset(), batch_size=BATCH, shuffle=False),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(
            type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=custom_hooks,
        default_scope='dense_contrast',
        randomness=dict(seed=0),
        resume=resume,
        log_level='WARNING')


@pytest.fixture(scope='module', autouse=True)
def safe_globals():
    """Register explicitly too, whatever ``dense_contrast/__init__`` does."""
    register_safe_globals()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train two epochs with the hook; return the runner and checkpoint."""
    work_dir = str(tmp_path_factory.mktemp('safe'))
    runner = build_runner(work_dir, 'safe_ckpt_train', max_epochs=2)
    runner.train()
    return runner, osp.join(work_dir, 'epoch_2.pth')


@pytest.fixture(scope='module')
def plain_checkpoint(tmp_path_factory):
    """A checkpoint written by plain mmengine (no hook)."""
    work_dir = str(tmp_path_factory.mktemp('plain'))
    build_runner(
        work_dir, 'plain_ckpt_train', max_epochs=1, safe=False).train()
    return osp.join(work_dir, 'epoch_1.pth')


def _run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (clean torch allowlist)."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run(
        [sys.executable, '-c', textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300)


# --------------------------------------------------------------- the problem
def test_plain_mmengine_checkpoint_pickles_getattr(plain_checkpoint):
    """Without the hook, HistoryBuffer's statistics table needs getattr."""
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
        plain_checkpoint)
    # HistoryBuffer and numpy are allowlisted by register_safe_globals, the
    # getattr references to HistoryBuffer.min/max/current/mean are not.
    assert unsafe == ['builtins.getattr']
    with pytest.raises(pickle.UnpicklingError, match='getattr'):
        torch.load(plain_checkpoint)


# --------------------------------------------------------------- write side
def test_hooked_checkpoint_loads_with_weights_only(trained):
    _, path = trained
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    checkpoint = torch.load(path)  # weights_only=True is torch's default
    assert set(checkpoint) >= {
        'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'
    }
    log_scalars = checkpoint['message_hub']['log_scalars']
    assert 'train/loss' in log_scalars
    assert all(type(buf) is HistoryBuffer for buf in log_scalars.values())
    runtime_info = checkpoint['message_hub']['runtime_info']
    assert type(runtime_info['best_score']) is float
    assert type(runtime_info['best_epoch']) is int
    assert isinstance(runtime_info['per_class'], np.ndarray)
    # dataset_meta is written verbatim (Runner.resume compares its pickle).
    assert isinstance(checkpoint['meta']['dataset_meta']['scale'], np.float32)


def test_hooked_checkpoint_loads_after_import_dense_contrast(trained):
    """The contract for users: ``import dense_contrast`` then torch.load."""
    _, path = trained
    result = _run_python(f"""
        import torch
        import dense_contrast
        ckpt = torch.load({path!r})
        print(sorted(ckpt))
    """)
    assert result.returncode == 0, result.stderr
    assert 'message_hub' in result.stdout


def test_hooked_checkpoint_needs_no_getattr(trained):
    """What a stock torch would need: HistoryBuffer, numpy, never getattr."""
    _, path = trained
    result = _run_python(f"""
        import torch
        print(torch.serialization.get_unsafe_globals_in_checkpoint({path!r}))
    """)
    assert result.returncode == 0, result.stderr
    unsafe = set(ast.literal_eval(result.stdout.strip().splitlines()[-1]))
    # numpy only remains in dataset_meta, kept verbatim (the toy metainfo
    # holds an array and a numpy scalar).
    assert unsafe == {
        HISTORY_BUFFER, 'numpy.ndarray', 'numpy.dtype',
        'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar'
    }


# --------------------------------------------------------------- resume
def _assert_buffers_equal(actual: HistoryBuffer, expected: HistoryBuffer):
    assert isinstance(actual, HistoryBuffer)
    log, count = actual.data
    expected_log, expected_count = expected.data
    assert log.dtype == expected_log.dtype
    assert count.dtype == expected_count.dtype
    np.testing.assert_array_equal(log, expected_log)
    np.testing.assert_array_equal(count, expected_count)
    assert actual.max_length == expected.max_length


def test_runner_resume_restores_message_hub(trained, tmp_path):
    source, path = trained
    runner = build_runner(str(tmp_path), 'safe_ckpt_resume', max_epochs=3)
    with mock.patch.object(runner.logger, 'warning') as warning:
        runner.resume(path)
    # e.g. "dataset metainfo ... is different": dataset_meta kept verbatim.
    assert warning.call_count == 0, warning.call_args_list

    assert runner.epoch == 2
    assert runner.iter == 2 * ITERS_PER_EPOCH
    hub, source_hub = runner.message_hub, source.message_hub
    assert set(hub.log_scalars) == set(source_hub.log_scalars)
    for key, buffer in source_hub.log_scalars.items():
        _assert_buffers_equal(hub.log_scalars[key], buffer)
        assert type(hub.log_scalars[key]) is HistoryBuffer
    # mmengine's statistics still work on the resumed buffers.
    assert hub.get_scalar('train/loss').mean() == pytest.approx(
        source_hub.get_scalar('train/loss').mean())
    assert hub.get_info('iter') == source_hub.get_info('iter')
    assert hub.get_info('epoch') == source_hub.get_info('epoch')
    assert hub.get_info('best_score') == 0.25
    assert hub.get_info('best_epoch') == source_hub.get_info('best_epoch')
    np.testing.assert_array_equal(hub.get_info('per_class'), np.arange(3.0))
    # The optimizer state (momentum buffers) came back too.
    state = runner.optim_wrapper.optimizer.state_dict()['state']
    source_state = source.optim_wrapper.optimizer.state_dict()['state']
    for index, values in source_state.items():
        assert torch.equal(state[index]['momentum_buffer'],
                           values['momentum_buffer'])


def test_resume_from_work_dir_and_keep_training(trained, tmp_path):
    """``resume=True`` picks the last checkpoint; its successor is safe too."""
    source, path = trained
    work_dir = osp.dirname(path)
    runner = build_runner(
        work_dir, 'safe_ckpt_continue', max_epochs=3, resume=True)
    runner.train()

    assert runner.iter == 3 * ITERS_PER_EPOCH
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    source_losses = source.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 3 * ITERS_PER_EPOCH
    np.testing.assert_array_equal(losses[:len(source_losses)], source_losses)
    # A checkpoint written after a resume (from loaded buffers) is safe too.
    checkpoint = torch.load(osp.join(work_dir, 'epoch_3.pth'))
    assert checkpoint['meta']['iter'] == 3 * ITERS_PER_EPOCH


# --------------------------------------------------------------- read side
class _Reduce:
    """Pickles as ``func(*args)``; the building block of the payloads."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # pickle only accepts callables as reducers
        raise AssertionError('never called while pickling')


def _payloads(marker: str) -> dict:
    """Pickles that create ``marker`` when unpickled without restriction."""
    code = f'open({marker!r}, "w").close()'
    os_module = _Reduce(builtins.__import__, ('os', ))
    return {
        'os.system':
        _Reduce(os.system, (f'touch {marker}', )),
        'subprocess.call':
        _Reduce(subprocess.call, (['touch', marker], )),
        'builtins.exec':
        _Reduce(builtins.exec, (code, )),
        'builtins.eval':
        _Reduce(builtins.eval, (code, )),
        # getattr(__import__('os'), 'system')('touch marker')
        'getattr chain':
        _Reduce(
            _Reduce(builtins.getattr, (os_module, 'system')),
            (f'touch {marker}', )),
        # getattr on an allowlisted class to reach a builtin's attributes
        'getattr on allowlisted class':
        _Reduce(_Reduce(builtins.getattr, (HistoryBuffer, '__init__')), ()),
    }


PAYLOAD_NAMES = list(_payloads('unused'))


@pytest.mark.parametrize('name', PAYLOAD_NAMES)
def test_malicious_checkpoint_is_refused(name, tmp_path):
    marker = str(tmp_path / 'pwned')
    payload = _payloads(marker)[name]
    if name != 'getattr on allowlisted class':
        # The payload is armed: unrestricted unpickling runs it.
        pickle.loads(pickle.dumps(payload))
        assert osp.exists(marker), name
        os.remove(marker)
    path = str(tmp_path / 'evil.pth')
    torch.save(
        dict(
            state_dict=OrderedDict(weight=torch.zeros(1)),
            meta=dict(note=payload)), path)
    model = nn.Linear(1, 1)

    loaders = [
        lambda: torch.load(path),
        lambda: _load_checkpoint(path, map_location='cpu'),
        lambda: load_checkpoint(model, path, map_location='cpu'),
    ]
    for load in loaders:
        with pytest.raises(pickle.UnpicklingError) as err:
            load()
        assert 'Weights only load failed' in str(err.value)
        assert not osp.exists(marker), name


def test_safe_globals_exclude_code_execution():
    register_safe_globals()
    forbidden_objects = {
        builtins.getattr, builtins.setattr, builtins.eval, builtins.exec,
        builtins.compile, builtins.__import__, builtins.open, os.system,
        subprocess.call, subprocess.Popen, subprocess.run, pickle.loads
    }
    forbidden_modules = ('builtins', 'os', 'posix', 'subprocess', 'sys',
                         'importlib', 'pickle', 'shutil', 'runpy', 'functools',
                         'operator', 'code', 'codecs', 'ctypes')
    entries = torch.serialization.get_safe_globals()
    assert HistoryBuffer in entries
    for entry in entries:
        obj, name = entry if isinstance(
            entry, tuple) else (entry,
                                f'{entry.__module__}.{entry.__qualname__}')
        assert obj not in forbidden_objects, name
        if name.split('.')[0] in forbidden_modules:
            # torch itself allowlists the builtin exception classes.
            assert isinstance(obj, type) and issubclass(obj, BaseException), \
                name


def test_register_safe_globals_is_exact_and_idempotent():
    entries = register_safe_globals()
    before = list(torch.serialization.get_safe_globals())
    assert register_safe_globals() == entries
    assert sorted(map(repr, torch.serialization.get_safe_globals())) == \
        sorted(map(repr, before))
    assert set(entries) <= set(before)

    names = {
        entry[1] if isinstance(entry, tuple) else
        f'{entry.__module__}.{entry.__qualname__}'
        for entry in safe_checkpoint_globals()
    }
    assert HISTORY_BUFFER in names
    # numpy 1 and numpy 2 spellings of the array/scalar reconstructors.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        assert f'{module}._reconstruct' in names
        assert f'{module}.scalar' in names
    # Per-dtype classes: BUILD of a dtype needs its exact type allowlisted.
    assert 'numpy.dtypes.Float64DType' in names
    assert names - {
        name
        for name in names if name.startswith('numpy.dtypes.')
    } == {
        HISTORY_BUFFER, 'numpy.ndarray', 'numpy.dtype',
        'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar',
        'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar'
    }


@pytest.mark.parametrize('module', ['numpy.core', 'numpy._core'])
def test_numpy_objects_load_under_both_module_names(module, tmp_path):
    """Arrays and scalars pickled by numpy 1 or numpy 2 both load."""
    data = dict(
        array=np.arange(6, dtype=np.int32).reshape(2, 3),
        scalar=np.float64(1.5),
        flags=np.array([True, False]))
    path = tmp_path / 'numpy.pth'
    # The legacy (non-zip) format has no checksum, so the module names can
    # be rewritten to what the other numpy major version writes.
    torch.save(data, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    for old in (b'numpy._core.multiarray', b'numpy.core.multiarray'):
        raw = raw.replace(old, module.encode() + b'.multiarray')
    path.write_bytes(raw)
    loaded = torch.load(path)
    np.testing.assert_array_equal(loaded['array'], data['array'])
    assert loaded['array'].dtype == np.int32
    assert loaded['scalar'] == 1.5 and isinstance(loaded['scalar'], np.float64)
    np.testing.assert_array_equal(loaded['flags'], data['flags'])


# --------------------------------------------------------------- unit level
def test_make_checkpoint_safe_converts_without_mutating():
    buffer = HistoryBuffer()
    for value in (1.0, 2.5, 4.0):
        buffer.update(value, count=2)
    meta = dict(
        seed=np.int64(3),
        lr=np.float32(0.5),
        flag=np.bool_(True),
        dataset_meta=dict(scale=np.float32(2.0)),
        name='run')
    checkpoint = dict(
        meta=meta,
        state_dict=OrderedDict(w=torch.ones(2)),
        message_hub=dict(
            log_scalars=OrderedDict(loss=buffer),
            runtime_info=OrderedDict(iter=np.int64(7)),
            resumed_keys=OrderedDict(loss=True, iter=True)))
    assert 'builtins.getattr' in find_unsafe_globals(checkpoint)

    make_checkpoint_safe(checkpoint)

    assert find_unsafe_globals(checkpoint) == []
    new_meta = checkpoint['meta']
    assert (type(new_meta['seed']), type(new_meta['lr']),
            type(new_meta['flag'])) == (int, float, bool)
    assert new_meta['seed'] == 3 and new_meta['lr'] == 0.5
    assert isinstance(new_meta['dataset_meta']['scale'], np.float32)
    assert isinstance(meta['seed'], np.int64), 'input containers untouched'
    assert checkpoint['state_dict']['w'] is not None
    # The message hub now pickles with HistoryBuffer as its only global
    # besides OrderedDict: no getattr, no numpy.
    raw = pickle.dumps(checkpoint['message_hub'], protocol=2)
    assert {
        arg
        for op, arg, _ in pickletools.genops(raw) if op.name == 'GLOBAL'
    } == {
        'collections OrderedDict',
        'mmengine.logging.history_buffer HistoryBuffer'
    }
    restored = pickle.loads(raw)
    assert type(restored['log_scalars']['loss']) is HistoryBuffer
    _assert_buffers_equal(restored['log_scalars']['loss'], buffer)
    assert restored['runtime_info']['iter'] == 7


def test_hook_is_registered_and_warns_about_leftovers():
    hook = HOOKS.build(dict(type='SafeCheckpointHook'))
    assert isinstance(hook, SafeCheckpointHook)
    assert hook.priority == 'LOWEST'
    # Any class that is not allowlisted must be reported.
    checkpoint = dict(meta=dict(ratio=fractions.Fraction(1, 3)))
    with mock.patch('dense_contrast.utils.checkpoint.print_log') as log:
        hook.before_save_checkpoint(runner=None, checkpoint=checkpoint)
    assert log.call_count == 1
    assert 'weights_only=True' in log.call_args.args[0]
    assert 'fractions.Fraction' in log.call_args.args[0]
    assert warn_if_unsafe(dict(meta=dict(x=1))) == []
