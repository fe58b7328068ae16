"""tools/eval_dense.py on a checkpoint and a dataset in VOC 2012's layout:
it prints the table and writes json and markdown."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import dense_contrast  # noqa: F401
from dense_contrast.evaluation import write_voc_layout
from dense_contrast.registry import MODELS

pytest.importorskip('mmseg')

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'densecl',
                  'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')


def _load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'eval_dense', osp.join(ROOT, 'tools', 'eval_dense.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_dense_prints_and_writes_the_table(tmp_path, tiny_toyscenes,
                                                capsys):
    data_root, toy_args = tiny_toyscenes
    voc = write_voc_layout(data_root, str(tmp_path / 'VOC2012'))
    cfg = Config.fromfile(CONFIG)
    checkpoints = []
    for seed in (0, 1):  # two different initialisations
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        path = str(tmp_path / f'init{seed}.pth')
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
        checkpoints.append(path)
    with open(osp.join(data_root, 'meta.json')) as f:
        num_classes = len(json.load(f)['seg_classes'])
    out_dir = str(tmp_path / 'out')
    tool = _load_tool()
    rc = tool.main([
        CONFIG, *checkpoints, '--data', voc, '--num-train', '6',
        '--num-val', '2', '--crop-size', str(toy_args['img_size']),
        '--num-classes', str(num_classes), '--stage', '2', '--batch-size', '8',
        '--toy-root', data_root, '--corr-pairs', '4', '--corr-size', '64',
        '--out-dir', out_dir
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert '| checkpoint | linear_mIoU | knn_mIoU | retrieval_mIoU | ' \
        'corr_acc | corr_chance |' in printed
    with open(osp.join(out_dir, 'dense_eval.json')) as f:
        report = json.load(f)
    assert [r['checkpoint'] for r in report['rows']] == checkpoints
    for row in report['rows']:
        assert 0.0 <= row['scores']['retrieval_mIoU'] <= 100.0
    # Two initialisations, two different rows.
    assert report['rows'][0]['scores'] != report['rows'][1]['scores']
    with open(osp.join(out_dir, 'dense_eval.md')) as f:
        assert f.read().count('init') >= 2


def test_eval_dense_explains_a_bad_data_folder(tmp_path, capsys):
    tool = _load_tool()
    assert tool.main([CONFIG, 'none.pth', '--data', str(tmp_path)]) == 1
    assert 'no known layout' in capsys.readouterr().err
