"""Mixed precision on the CPU and gradient checkpointing, for every method.

Each toy config present under ``configs/*/`` is built as the Runner builds it
and fed one small batch from its own train pipeline (see
``dense_contrast.apis.make_batch``); new methods are picked up by the glob.
"""
import copy
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import dense_contrast  # noqa: F401
from dense_contrast.apis import make_batch
from dense_contrast.engine import MixedPrecisionOptimWrapper
from dense_contrast.models import KMeansSemanticHead
from dense_contrast.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TOY_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*',
                                        '*_toyscenes.py')))
BATCH = 2
DENSECL_TOY = osp.join(ROOT, 'configs', 'densecl',
                       'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')


def _ids(paths):
    return [osp.splitext(osp.basename(p))[0] for p in paths]


def _model_and_batch(path: str, **backbone):
    init_default_scope('dense_contrast')
    cfg = Config.fromfile(path)
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone'].update(backbone)
    # Seeded, so the case does not depend on the tests run before it.
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    # MCL's montage counts are tied to the configured batch. mmpretrain's
    # SimCLR takes its negatives from the batch alone: on 2 images each
    # view has 2 negatives, and at its temperature of 0.1 the bf16 rounding
    # of the cosines moves the loss by 1.2 % (4 images: 0.9 %, 8: 0.1 %),
    # so it runs on 8. The others run on BATCH images.
    if 'montage' in model_cfg:
        batch_size = cfg.train_dataloader.batch_size
    elif model_cfg['type'].endswith('SimCLR'):
        batch_size = 8
    else:
        batch_size = BATCH
    batch = make_batch(cfg, batch_size, source_size=128, seed=0)
    return model, batch


def _losses(model, batch, optim_wrapper=None):
    """Loss terms of one forward from a fixed RNG state (batch shuffle and
    any sampling draw the same numbers)."""
    torch.manual_seed(0)
    data = model.data_preprocessor(batch, True)
    if optim_wrapper is None:
        return model(**data, mode='loss')
    with optim_wrapper.optim_context(model):
        return model(**data, mode='loss')


def _total(losses):
    return sum(v for k, v in losses.items() if 'loss' in k)


def _replay(fp32_owner, bf16_owner, name: str) -> None:
    """Make ``bf16_owner.<name>`` return what ``fp32_owner.<name>``
    returned, call by call (the fp32 forward runs first)."""
    recorded = []
    fp32_method = getattr(fp32_owner, name)

    def record(*args):
        recorded.append(fp32_method(*args))
        return recorded[-1]

    setattr(fp32_owner, name, record)
    setattr(bf16_owner, name, lambda *args: recorded.pop(0))


def _replay_discrete_steps(model, model_bf16) -> None:
    """Make the bf16 model reuse the fp32 model's discrete decisions.

    Two steps of the dense methods are argmax-like: the dense matching (the
    most similar key location of every query location, ``match_index``)
    and DSC-KM's k-means assignment (``semantic_head.cluster``). bf16
    features (cosine 0.999 to the fp32 ones) can flip a location between
    two nearly equally similar candidates; on the test's two images one or
    two flips move a dense loss by 1 to 3 %. With the fp32 decisions
    replayed, the comparison checks the continuous part of every loss, in
    bf16, at the usual tolerance. The matching itself is tested in float32
    elsewhere (parity with mmpretrain).
    """
    if hasattr(model, 'match_index'):
        _replay(model, model_bf16, 'match_index')
    if isinstance(getattr(model, 'semantic_head', None), KMeansSemanticHead):
        _replay(model.semantic_head, model_bf16.semantic_head, 'cluster')


@pytest.mark.parametrize('path', TOY_CONFIGS,
                         ids=_ids(TOY_CONFIGS))
def test_bf16_losses_close_to_fp32(path):
    model, batch = _model_and_batch(path)
    model_bf16 = copy.deepcopy(model)
    wrapper = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(model_bf16.parameters(), lr=0.1))
    assert wrapper.cast_dtype == torch.bfloat16
    assert not wrapper.loss_scaler.is_enabled()
    conv_dtypes = []
    model_bf16.backbone.conv1.register_forward_hook(
        lambda m, i, out: conv_dtypes.append(out.dtype))

    _replay_discrete_steps(model, model_bf16)
    with torch.no_grad():
        fp32 = _losses(model, batch)
        bf16 = _losses(model_bf16, batch, wrapper)
    assert conv_dtypes and conv_dtypes[0] == torch.bfloat16  # autocast ran
    assert fp32.keys() == bf16.keys()
    for key in fp32:
        if 'loss' not in key:
            continue
        ref, low = fp32[key].float(), bf16[key].float()
        assert torch.isfinite(low).all(), key
        torch.testing.assert_close(
            low, ref, rtol=1e-2, atol=1e-4, msg=lambda m: f'{key}: {m}')
    torch.testing.assert_close(
        _total(bf16).float(), _total(fp32).float(), rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize('path', TOY_CONFIGS, ids=_ids(TOY_CONFIGS))
def test_gradient_checkpointing_switch_reaches_every_block(path):
    """``model.backbone.with_cp=True`` is the switch for every method: it
    reaches every residual block of the online backbone."""
    init_default_scope('dense_contrast')
    model_cfg = Config.fromfile(path).model.to_dict()
    model_cfg['backbone']['with_cp'] = True
    model = MODELS.build(model_cfg)
    blocks = [m for m in model.backbone.modules() if hasattr(m, 'with_cp')]
    assert len(blocks) > 1 and all(m.with_cp for m in blocks)


def test_gradient_checkpointing_gives_the_same_step():
    """With checkpointing the activations are recomputed in the backward:
    losses and gradients equal those without it."""
    model, batch = _model_and_batch(DENSECL_TOY)
    model_cp, _ = _model_and_batch(DENSECL_TOY, with_cp=True)
    model_cp.load_state_dict(model.state_dict())

    losses, grads = [], []
    for m in (model, model_cp):
        loss = _total(_losses(m, batch))
        loss.backward()
        losses.append(loss.detach())
        grads.append({
            n: p.grad.clone()
            for n, p in m.named_parameters() if p.grad is not None
        })
    torch.testing.assert_close(losses[1], losses[0])
    assert grads[0].keys() == grads[1].keys()
    assert 'backbone.layer1.0.conv1.weight' in grads[1]
    for name in grads[0]:
        torch.testing.assert_close(
            grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6,
            msg=lambda m: f'{name}: {m}')


def test_wrapper_steps_and_keeps_fp32_state():
    """A bf16 step through ``train_step`` changes the fp32 weights; an fp16
    wrapper scales the loss and round-trips its scaler state."""
    model, batch = _model_and_batch(DENSECL_TOY)
    wrapper = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.backbone.conv1.weight.detach().clone()
    log_vars = model.train_step(batch, wrapper)
    assert torch.isfinite(log_vars['loss'])
    after = model.backbone.conv1.weight
    assert after.dtype == torch.float32 and not torch.equal(after, before)
    assert model.global_queue.feats.dtype == torch.float32

    fp16 = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        dtype='float16', loss_scale=512.)
    assert fp16.loss_scaler.is_enabled()
    loss = torch.ones((), requires_grad=True)
    assert fp16.loss_scaler.scale(loss).item() == 512.
    state = fp16.state_dict()
    assert state['loss_scaler']['scale'] == 512.
    fresh = MixedPrecisionOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        dtype='float16')
    fresh.load_state_dict(state)
    assert fresh.loss_scaler.get_scale() == 512.


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match='float32'):
        MixedPrecisionOptimWrapper(
            optimizer=torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                      lr=0.1),
            dtype='float32')


@pytest.mark.timeout(600)
def test_train_amp_on_cpu(tmp_path, tiny_toyscenes):
    """``tools/train.py --amp`` runs a few bf16 iterations on the CPU."""
    data_root, toy_args = tiny_toyscenes
    config = DENSECL_TOY
    work_dir = tmp_path / 'work'
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), config, '--amp', '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}'
    ] + [f'train_dataloader.dataset.{k}={v}' for k, v in toy_args.items()] + [
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'model.queue_len=16',
        'model.neck.hid_channels=32', 'train_cfg.max_epochs=1',
        'param_scheduler.0.T_max=1', 'param_scheduler.0.end=1',
        'default_hooks.logger.interval=1'
    ]
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=500)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert 'loss_dense' in log
    dumped = Config.fromfile(
        work_dir / 'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
    assert dumped.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    saved = torch.load(work_dir / 'epoch_1.pth')
    assert saved['meta']['iter'] == toy_args['num_train'] // 4
    assert 'loss_scaler' in saved['optimizer']
