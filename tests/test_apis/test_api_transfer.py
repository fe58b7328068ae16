"""dense_contrast.apis.transfer: the pieces of the transfer chain that need
no training run (the chain itself: tests/test_tools/test_transfer.py)."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from dense_contrast.apis.runner import RunError
from dense_contrast.apis.transfer import (markdown_table,
                                          pretrained_init_paths, read_metrics,
                                          run_fingerprint)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
C4 = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection',
              'faster-rcnn_r50-c4_ms-24k_voc0712.py')


def test_pretrained_init_paths_find_backbone_and_res5_head():
    assert pretrained_init_paths(Config.fromfile(C4)) == [
        'model.backbone.init_cfg', 'model.roi_head.shared_head.init_cfg'
    ]
    with pytest.raises(ValueError, match='no init_cfg of type "Pretrained"'):
        pretrained_init_paths(
            Config(dict(model=dict(backbone=dict(type='ResNet')))))


def test_read_metrics_takes_the_last_evaluation(tmp_path):
    for stamp, miou in (('20240101_000000', 10.0), ('20240102_000000', 20.0)):
        log = tmp_path / stamp / 'vis_data'
        log.mkdir(parents=True)
        lines = [dict(lr=0.1, loss=1.0, iter=1), dict(mIoU=miou, step=2),
                 dict(lr=0.1, loss_x=1.0, iter=3)]
        (log / 'scalars.json').write_text(
            '\n'.join(json.dumps(line) for line in lines) + '\n')
    metrics, source = read_metrics(str(tmp_path))
    assert metrics == {'mIoU': 20.0}
    assert source == str(tmp_path / '20240102_000000' / 'vis_data' /
                         'scalars.json')
    with pytest.raises(RunError, match='no evaluation found'):
        read_metrics(str(tmp_path / '20240101_000000'))


def test_fingerprint_follows_options_and_weights():
    cfg = Config(dict(model=dict(depth=18), seed=0))
    base = run_fingerprint(cfg, {'seed': 1}, 'abc')
    assert base == run_fingerprint(cfg, {'seed': 1}, 'abc')
    assert base != run_fingerprint(cfg, {'seed': 2}, 'abc')
    assert base != run_fingerprint(cfg, {'seed': 1}, None)


def test_markdown_table_columns_and_inits():
    records = [
        dict(config='a.py', init=init, seed=0, checkpoint=ckpt,
             checkpoint_sha256=sha, metrics={'mIoU': v, 'loss': 1.0})
        for init, ckpt, sha, v in (('densecl', 'w.pth', '0' * 64, 12.345),
                                   ('random', None, None, 3.0))
    ]
    table = markdown_table(records)
    assert '| metric | densecl (seed 0) | random (seed 0) |' in table
    assert '| mIoU | 12.35 | 3 |' in table
    assert 'loss' not in table
    assert '| densecl | w.pth | 0000000000000000... |' in table
    assert '| random | - | - |' in table
