"""tools/model_converters/extract_backbone_weights.py and its library code.

A fake DenseCL checkpoint (real mmpretrain ResNet-18 as ``backbone``, a
perturbed copy as ``encoder_k.module.0``, a neck and a queue) is extracted
and loaded into mmdet's and mmseg's ResNet through ``init_cfg``.
"""
import copy
import hashlib
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.registry import DefaultScope

from dense_contrast.utils.checkpoint import make_checkpoint_safe
from dense_contrast.utils.extract import (extract_backbone_weights,
                                          pretrained_init_cfg)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO_ROOT, 'tools', 'model_converters',
                'extract_backbone_weights.py')
CFG_TEXT = ("model = dict(\n    type='DenseCL',\n    queue_len=8,\n"
            "    backbone=dict(type='ResNet', depth=18))\n")


class FakeDenseCL(nn.Module):
    """The state-dict layout of mmpretrain's DenseCL, on a ResNet-18."""

    def __init__(self):
        super().__init__()
        from mmpretrain.models import ResNet
        self.backbone = ResNet(depth=18)
        self.neck = nn.Linear(512, 8)
        self.encoder_k = nn.Module()
        self.encoder_k.module = nn.Sequential(
            copy.deepcopy(self.backbone), copy.deepcopy(self.neck))
        self.register_buffer('queue', torch.randn(8, 16))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))


def _randomise(model: nn.Module) -> None:
    """Give every tensor a distinctive value, BN statistics included."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                tensor.fill_(7)
            elif name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif tensor.is_floating_point():
                tensor.normal_(generator=generator)
        # The momentum encoder must differ from the backbone, or picking the
        # wrong one would go unnoticed.
        for tensor in model.encoder_k.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(1.0)


def _training_checkpoint(model: nn.Module) -> dict:
    """An mmengine training checkpoint dict as SafeCheckpointHook saves it."""
    buffer = HistoryBuffer()
    buffer.update(1.5)
    checkpoint = dict(
        meta=dict(
            epoch=200,
            iter=1000,
            seed=np.int64(0),
            cfg=CFG_TEXT,
            experiment_name='densecl_r18'),
        state_dict=model.state_dict(),
        message_hub=dict(
            log_scalars=OrderedDict({'train/loss': buffer}),
            runtime_info=OrderedDict(epoch=200, iter=1000),
            resumed_keys=OrderedDict({'train/loss': True})),
        optimizer=dict(state={}, param_groups=[dict(lr=0.03, params=[0])]))
    return make_checkpoint_safe(checkpoint)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """Write the fake checkpoint; return its path and the backbone weights."""
    torch.manual_seed(0)
    model = FakeDenseCL()
    _randomise(model)
    path = str(tmp_path_factory.mktemp('pretrain') / 'densecl_r18.pth')
    torch.save(_training_checkpoint(model), path)
    expected = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    return path, expected, model


def _assert_same_tensors(actual: dict, expected: dict) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key
        assert actual[key].dtype == value.dtype, key


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run([sys.executable, *args],
                          capture_output=True,
                          text=True,
                          env=env,
                          cwd=REPO_ROOT,
                          timeout=300,
                          **kwargs)


# ----------------------------------------------------------------- function
def test_extract_training_checkpoint(pretrained, tmp_path):
    in_path, expected, _ = pretrained
    out_path = str(tmp_path / 'new' / 'dir' / 'backbone.pth')  # dirs created

    saved = extract_backbone_weights(in_path, out_path)

    assert osp.isfile(out_path)
    loaded = torch.load(out_path, weights_only=True)
    assert set(loaded) == {'state_dict', 'meta'}
    _assert_same_tensors(loaded['state_dict'], expected)
    _assert_same_tensors(saved['state_dict'], expected)
    assert 'conv1.weight' in loaded['state_dict']
    assert 'bn1.num_batches_tracked' in loaded['state_dict']
    assert not any(
        key.startswith(('encoder_k', 'neck', 'queue', 'backbone.'))
        for key in loaded['state_dict'])

    with open(in_path, 'rb') as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    assert loaded['meta'] == dict(
        source='densecl_r18.pth',
        source_sha256=sha256,
        prefix='backbone.',
        num_tensors=len(expected),
        algorithm='DenseCL',
        epoch=200,
        iter=1000)
    assert all(type(v) in (str, int) for v in loaded['meta'].values())


def test_extract_plain_state_dict_and_other_prefixes(pretrained, tmp_path):
    _, expected, model = pretrained
    in_path = str(tmp_path / 'plain.pth')
    torch.save(model.state_dict(), in_path)

    saved = extract_backbone_weights(
        in_path, str(tmp_path / 'out.pth'), with_meta=False)
    assert set(saved) == {'state_dict'}
    _assert_same_tensors(saved['state_dict'], expected)

    # A prefix without the trailing dot selects the same submodule only.
    encoder = extract_backbone_weights(
        in_path, str(tmp_path / 'enc.pth'), prefix='encoder_k.module.0')
    _assert_same_tensors(encoder['state_dict'],
                         model.encoder_k.module[0].state_dict())
    neck = extract_backbone_weights(
        in_path, str(tmp_path / 'neck.pth'), prefix='neck.')
    _assert_same_tensors(neck['state_dict'], model.neck.state_dict())


def test_output_loads_without_dense_contrast(pretrained, tmp_path):
    """Downstream users need neither this project nor an allowlist."""
    in_path, expected, _ = pretrained
    out_path = str(tmp_path / 'backbone.pth')
    extract_backbone_weights(in_path, out_path)
    code = f"""
        import sys
        import torch
        # Nothing of this project is allowlisted here (torch's defaults are).
        assert not any('numpy' in repr(g) or 'mmengine' in repr(g)
                       for g in torch.serialization.get_safe_globals())
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint
        print(unsafe({out_path!r}))
        ckpt = torch.load({out_path!r}, weights_only=True)
        assert 'dense_contrast' not in sys.modules
        assert 'mmengine' not in sys.modules
        print(len(ckpt['state_dict']))
    """
    result = _run(['-c', textwrap.dedent(code)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['[]', str(len(expected))]


# ----------------------------------------------------------------- CLI
def test_cli(pretrained, tmp_path):
    in_path, expected, _ = pretrained
    out_path = str(tmp_path / 'cli' / 'densecl_r18_backbone.pth')

    result = _run([TOOL, in_path, out_path])

    assert result.returncode == 0, result.stderr
    assert f'Wrote {len(expected)} tensors to {out_path}' in result.stdout
    assert pretrained_init_cfg(out_path) in result.stdout
    assert (f"init_cfg=dict(type='Pretrained', checkpoint='{out_path}')"
            in result.stdout)
    loaded = torch.load(out_path, weights_only=True)
    _assert_same_tensors(loaded['state_dict'], expected)


def test_cli_errors(pretrained, tmp_path):
    """Error reporting of the command line: exit status 1, one line."""
    in_path, _, _ = pretrained
    out_path = str(tmp_path / 'out.pth')
    missing = str(tmp_path / 'missing.pth')

    result = _run([TOOL, missing, out_path])
    assert result.returncode == 1
    assert result.stderr == (
        f'error: Input checkpoint not found: {missing}\n')

    result = _run([TOOL, in_path, out_path, '--prefix', 'head'])
    assert result.returncode == 1
    assert result.stderr == (
        "error: No tensor key starts with 'head.'. Top-level names in the "
        "checkpoint: ['backbone', 'encoder_k', 'neck', 'queue', "
        "'queue_ptr']. Pass one of them with --prefix.\n")
    assert not osp.exists(out_path)

    assert _run([TOOL, in_path, out_path, '--no-meta']).returncode == 0
    assert set(torch.load(out_path, weights_only=True)) == {'state_dict'}


# ----------------------------------------------------------------- errors
def test_error_messages(pretrained, tmp_path):
    in_path, _, model = pretrained
    out_path = str(tmp_path / 'out.pth')

    with pytest.raises(
            FileNotFoundError, match='Input checkpoint not found: .*nope.pth'):
        extract_backbone_weights(str(tmp_path / 'nope.pth'), out_path)

    with pytest.raises(ValueError) as err:
        extract_backbone_weights(in_path, out_path, prefix='backbone2')
    assert str(err.value) == (
        "No tensor key starts with 'backbone2.'. Top-level names in the "
        "checkpoint: ['backbone', 'encoder_k', 'neck', 'queue', "
        "'queue_ptr']. Pass one of them with --prefix.")

    with pytest.raises(ValueError, match='The prefix must name a submodule'):
        extract_backbone_weights(in_path, out_path, prefix='')

    with pytest.raises(ValueError, match='is the input file; refusing'):
        extract_backbone_weights(in_path, in_path)

    with pytest.raises(ValueError, match='no "state_dict" dict'):
        bad = str(tmp_path / 'bad.pth')
        torch.save(dict(meta=dict(epoch=1), model=model.state_dict()), bad)
        extract_backbone_weights(bad, out_path)
    assert not osp.exists(out_path)


def test_unsafe_input_is_refused(pretrained, tmp_path):
    """A plain mmengine checkpoint (HistoryBuffer pickled with getattr)."""
    _, _, model = pretrained
    buffer = HistoryBuffer()
    buffer.update(1.0)
    path = str(tmp_path / 'plain_mmengine.pth')
    torch.save(
        dict(
            state_dict=model.state_dict(),
            message_hub=dict(log_scalars=OrderedDict(loss=buffer))), path)

    with pytest.raises(pickle.UnpicklingError) as err:
        extract_backbone_weights(path, str(tmp_path / 'out.pth'))
    message = str(err.value)
    assert "needs the globals ['builtins.getattr']" in message
    assert 'SafeCheckpointHook' in message
    assert not osp.exists(tmp_path / 'out.pth')


# ----------------------------------------------------------------- downstream
def _build_downstream(registry_module: str, out_path: str) -> nn.Module:
    """Build a ResNet-18 through mmdet's or mmseg's registry, pretrained."""
    if registry_module == 'mmdet':
        from mmdet.registry import MODELS
        cfg = dict(type='ResNet', depth=18)
    else:
        from mmseg.registry import MODELS
        cfg = dict(type='ResNet', depth=18, deep_stem=False, style='pytorch')
    cfg['init_cfg'] = dict(type='Pretrained', checkpoint=out_path)
    # A Runner built earlier in the session may have left another default
    # scope current (e.g. 'dense_contrast', where 'ResNet' is mmpretrain's).
    with DefaultScope.overwrite_default_scope(registry_module):
        model = MODELS.build(cfg)
    assert type(model).__name__ == 'ResNet'
    assert type(model).__module__.startswith(registry_module)
    return model


@pytest.mark.parametrize('registry_module', ['mmdet', 'mmseg'])
def test_round_trip_into_downstream_resnet(registry_module, pretrained,
                                           tmp_path):
    in_path, expected, _ = pretrained
    out_path = str(tmp_path / 'backbone.pth')
    extract_backbone_weights(in_path, out_path)

    model = _build_downstream(registry_module, out_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with DefaultScope.overwrite_default_scope(registry_module):
        model.init_weights()
    state = model.state_dict()

    # Same key set: nothing missing, nothing unexpected.
    assert set(state) == set(expected)
    _assert_same_tensors(state, expected)
    assert not torch.equal(before['conv1.weight'], state['conv1.weight'])
