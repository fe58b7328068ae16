"""Logs people read: extra visualisation backends, curves from the json
scalar logs, FLOPs and parameters of a config's encoder."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.visualization import Visualizer

import dense_contrast  # noqa: F401
from dense_contrast.apis import (CurveLogError, add_vis_backends,
                                 collect_curves, find_scalar_logs,
                                 merge_train_options, model_complexity,
                                 plot_curves, read_scalar_log)
from dense_contrast.preflight import ConfigValidationError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = osp.join(ROOT, 'configs', 'densecl',
               'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
R50 = osp.join(ROOT, 'configs', 'densecl',
               'densecl_resnet50_8xb32-coslr-200e_in1k.py')


# ------------------------------------------------------------ backends
def _backend_types(cfg):
    return [b['type'] for b in cfg.visualizer.vis_backends]


def test_vis_option_adds_tensorboard_and_keeps_local(tmp_path):
    cfg = merge_train_options(Config.fromfile(TOY), TOY, str(tmp_path),
                              vis=['tensorboard'])
    assert _backend_types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']
    # Built as the Runner builds it, it writes an event file.
    init_default_scope('dense_contrast')
    vis = Visualizer(name='test_vis_tb', vis_backends=cfg.visualizer.
                     vis_backends, save_dir=str(tmp_path))
    vis.add_scalars(dict(loss=1.0), step=1)
    vis.close()
    assert glob.glob(str(tmp_path / 'vis_data' / 'events.out.tfevents.*'))


def test_cfg_options_equivalent_and_no_duplicates(tmp_path):
    cfg = merge_train_options(Config.fromfile(TOY), TOY, str(tmp_path),
                              cfg_options=dict(vis='tensorboard'),
                              vis=['tensorboard'])
    assert _backend_types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']
    assert 'vis' not in cfg  # consumed, so the Runner never sees it
    cfg = merge_train_options(Config.fromfile(TOY), TOY, str(tmp_path),
                              cfg_options=dict(vis=['tensorboard']))
    assert _backend_types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']


def test_config_without_visualizer_gets_local_first():
    cfg = Config(dict(model=dict(type='X')))
    assert add_vis_backends(cfg, 'tensorboard') == ['TensorboardVisBackend']
    assert _backend_types(cfg) == ['LocalVisBackend', 'TensorboardVisBackend']


def test_unknown_or_missing_backend_is_refused(monkeypatch):
    cfg = Config.fromfile(TOY)
    with pytest.raises(ConfigValidationError, match='--vis neptune: unknown'):
        add_vis_backends(cfg, ['neptune'])
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'wandb' else
                        real(name, *a))
    with pytest.raises(ConfigValidationError,
                       match=r'wandb package is not installed \(pip install '
                       r'wandb\)'):
        add_vis_backends(cfg, ['wandb'])
    assert _backend_types(cfg) == ['LocalVisBackend']  # unchanged


def test_wandb_backend_entry(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, 'find_spec', lambda *a: object())
    cfg = Config.fromfile(TOY)
    add_vis_backends(cfg, 'tensorboard,wandb')
    assert _backend_types(cfg) == [
        'LocalVisBackend', 'TensorboardVisBackend', 'WandbVisBackend'
    ]


def test_train_tool_has_the_vis_option():
    import importlib.util as iu
    spec = iu.spec_from_file_location('train_tool',
                                      osp.join(ROOT, 'tools', 'train.py'))
    tool = iu.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args([TOY, '--vis', 'tensorboard', 'wandb'])
    assert args.vis == ['tensorboard', 'wandb']
    assert tool.parse_args([TOY]).vis == []
    with pytest.raises(SystemExit):
        tool.parse_args([TOY, '--vis', 'neptune'])


# ------------------------------------------------------------ curves
def _write_log(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return str(path)


ROWS = [
    {'lr': 0.1, 'loss': 2.0, 'loss_dense': 1.2, 'time': 0.5, 'epoch': 1,
     'iter': 10, 'step': 10},
    {'lr': 0.1, 'loss': 1.5, 'loss_dense': 0.9, 'time': 0.5, 'epoch': 1,
     'iter': 20, 'step': 20},
    {'probe/linear_mIoU': 12.5, 'epoch': 1, 'step': 1},
    {'lr': 0.05, 'loss': 1.0, 'loss_dense': 0.6, 'time': 0.5, 'epoch': 2,
     'iter': 30, 'step': 30},
    {'probe/linear_mIoU': 17.0, 'epoch': 2, 'step': 2},
]


def test_collect_curves_defaults_and_axes():
    curves = collect_curves(ROWS)
    assert list(curves) == ['loss', 'loss_dense', 'probe/linear_mIoU']
    assert curves['loss'] == ('iteration', [10.0, 20.0, 30.0],
                              [2.0, 1.5, 1.0])
    assert curves['probe/linear_mIoU'] == ('epoch', [1.0, 2.0],
                                           [12.5, 17.0])
    # Asked for, lr is drawn; a later row at the same step wins (resume).
    curves = collect_curves(ROWS + [dict(ROWS[0], lr=0.2)], keys=['lr'])
    assert curves['lr'][2] == [0.2, 0.1, 0.05]


def test_collect_curves_names_unknown_keys():
    with pytest.raises(CurveLogError, match=r"\['acc'\] are in no row"):
        collect_curves(ROWS, keys=['acc'])


def test_plot_curves_from_a_work_dir(tmp_path):
    run = tmp_path / 'run'
    _write_log(run / '20260101_000000' / 'vis_data' / '20260101_000000.json',
               ROWS[:3])
    _write_log(run / '20260102_000000' / 'vis_data' / '20260102_000000.json',
               ROWS[3:])
    assert [osp.basename(p) for p in find_scalar_logs(str(run))] == [
        '20260101_000000.json', '20260102_000000.json'
    ]
    out = tmp_path / 'plots' / 'curves.png'
    drawn = plot_curves([str(run)], str(out))
    assert drawn == ['loss', 'loss_dense', 'probe/linear_mIoU']
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    from PIL import Image
    assert Image.open(out).size == (1000, 640)  # 2 x 2 panels at 100 dpi


def test_bad_logs_are_named(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1, "iter": 1}\nnot json\n')
    with pytest.raises(CurveLogError, match=r'bad.json, line 2: not json'):
        read_scalar_log(str(bad))
    with pytest.raises(CurveLogError, match='no such json log'):
        find_scalar_logs(str(tmp_path / 'missing'))
    with pytest.raises(CurveLogError, match='no json scalar log'):
        find_scalar_logs(str(tmp_path))


def test_plot_curves_tool(tmp_path, capsys):
    import importlib.util as iu
    spec = iu.spec_from_file_location(
        'plot_tool',
        osp.join(ROOT, 'tools', 'analysis_tools', 'plot_curves.py'))
    tool = iu.module_from_spec(spec)
    spec.loader.exec_module(tool)
    log = _write_log(tmp_path / 'log.json', ROWS)
    out = tmp_path / 'c.png'
    assert tool.main([log, '--out', str(out), '--keys', 'loss']) == 0
    assert out.is_file() and 'c.png: loss' in capsys.readouterr().out
    assert tool.main([log, '--out', str(out), '--keys', 'nope']) == 1
    assert "error: keys ['nope']" in capsys.readouterr().err


# ------------------------------------------------------------ flops
def test_flops_of_a_toy_config_by_hand():
    """Against the backbone's convolutions counted by hand, layer by layer
    (multiply-adds: output elements x input channels per group x kernel
    area), on a 32 px image."""
    import torch
    from torch import nn
    info = model_complexity(TOY, (3, 32, 32))
    cfg = Config.fromfile(TOY)
    init_default_scope('dense_contrast')
    from dense_contrast.registry import MODELS
    backbone = MODELS.build(cfg.model).backbone
    backbone.eval()
    expected = 0

    def count(module, inputs, output):
        nonlocal expected
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            expected += (output.numel() * module.in_channels // module.groups
                         * k)

    hooks = [m.register_forward_hook(count) for m in backbone.modules()
             if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        backbone(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    # mmengine also counts batch norm (one FLOP per element); convolutions
    # dominate: they account for nearly all of it.
    assert expected <= info['flops'] < expected * 1.05
    assert info['params'] == sum(p.numel() for p in backbone.parameters())
    assert info['model_params'] > info['params']  # key encoder and heads


def test_flops_resnet50_matches_mmpretrain_model_zoo():
    # mmpretrain's metafile lists 4109364224 FLOPs and 64850560 parameters
    # for its DenseCL ResNet-50 at 224 px.
    info = model_complexity(R50)
    assert info['flops'] == 4109364224
    assert info['model_params'] == 64850560


def test_flops_with_neck_and_errors():
    backbone = model_complexity(TOY, (3, 32, 32))
    with_neck = model_complexity(TOY, (3, 32, 32), 'backbone+neck')
    assert with_neck['flops'] > backbone['flops']
    with pytest.raises(ValueError, match='part must be one of'):
        model_complexity(TOY, part='head')
    with pytest.raises(ValueError, match=r'input_shape must be \(C, H, W\)'):
        model_complexity(TOY, (32, 32))


def test_get_flops_tool(capsys):
    import importlib.util as iu
    spec = iu.spec_from_file_location(
        'flops_tool',
        osp.join(ROOT, 'tools', 'analysis_tools', 'get_flops.py'))
    tool = iu.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([TOY, '--shape', '32']) == 0
    out = capsys.readouterr().out
    assert 'input: (3, 32, 32), part: backbone' in out and 'FLOPs:' in out
    assert tool.main(['missing.py']) == 1
    assert 'config file missing.py does not exist' in capsys.readouterr().err
