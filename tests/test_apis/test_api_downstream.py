"""dense_contrast.apis.downstream: the pieces of one downstream run that
need no training run, and the fine-tune's bookkeeping with its jobs stood
in for by a fake (the whole transfer chain:
tests/test_tools/test_transfer.py)."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config

from dense_contrast.apis import downstream
from dense_contrast.apis.downstream import (finetune, finished_record,
                                            pretrained_init_paths,
                                            read_metrics, read_test_metrics,
                                            run_fingerprint)
from dense_contrast.apis.runner import RunError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
C4 = osp.join(ROOT, 'configs', 'benchmarks', 'mmdetection',
              'faster-rcnn_r50-c4_ms-24k_voc0712.py')
SEG = osp.join(ROOT, 'configs', 'benchmarks', 'mmsegmentation',
               'fcn_r18-d8_1xb8-100i_toyscenes-128x128.py')


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


def test_read_test_metrics_takes_the_newest_test_log(tmp_path):
    for stamp, miou in (('20240101_000000', 10.0), ('20240102_000000', 20.0)):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / f'{stamp}.json').write_text(json.dumps(
            dict(aAcc=80, mIoU=miou, time=0.5, data_time=0.1, step=4,
                 note='text')))
    # A newer folder without its own <stamp>.json is not a test log.
    (tmp_path / '20240103_000000' / 'vis_data').mkdir(parents=True)
    metrics, source = read_test_metrics(str(tmp_path))
    assert metrics == {'aAcc': 80.0, 'mIoU': 20.0}
    assert source == str(tmp_path / '20240102_000000' /
                         '20240102_000000.json')
    with pytest.raises(RunError, match='no test log'):
        read_test_metrics(str(tmp_path / '20240103_000000'))


def test_finetune_tests_once_and_retries_a_failed_test(tmp_path,
                                                      monkeypatch):
    """The jobs are stood in for by a fake that writes what the Runner
    would: a validation line, the last checkpoint, a test log; its first
    test fails."""
    jobs = []

    def fake_run_logged(cmd, log_path, what, append=False):
        work_dir = cmd[cmd.index('--work-dir') + 1]
        options = cmd[cmd.index('--cfg-options') + 1:]
        stamp = '20240101_000000'
        if cmd[1].endswith('test.py'):
            jobs.append(('test', cmd[3], what, options))
            if sum(job[0] == 'test' for job in jobs) == 1:
                raise RunError('the first test fails')
            os.makedirs(osp.join(work_dir, stamp))
            with open(osp.join(work_dir, stamp, f'{stamp}.json'), 'w') as f:
                json.dump(dict(mIoU=7.5, time=1.0), f)
        else:
            jobs.append(('train', None, what, options))
            os.makedirs(osp.join(work_dir, stamp, 'vis_data'))
            with open(osp.join(work_dir, stamp, 'vis_data', 'scalars.json'),
                      'w') as f:
                f.write(json.dumps(dict(mIoU=5.0, step=3)) + '\n')
            with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work_dir, 'iter_3.pth'))
        return 60.0

    monkeypatch.setattr(downstream, 'run_logged', fake_run_logged)
    monkeypatch.setattr(downstream, 'ensure_toy_data', lambda *args: None)
    run_dir = str(tmp_path / 'run')
    what = f'random -> {SEG} (seed 1)'
    with pytest.raises(RunError, match='the first test fails'):
        finetune(SEG, 'random', None, None, 1, run_dir, test=True)
    options = [
        'default_hooks.safe_checkpoint.type=dense_contrast.SafeCheckpointHook',
        'randomness.seed=1', 'model.backbone.init_cfg=None'
    ]
    checkpoint = osp.join(run_dir, 'iter_3.pth')
    assert jobs == [('train', None, what, options),
                    ('test', checkpoint, 'testing ' + what, options)]
    with open(osp.join(run_dir, 'result.json')) as f:
        trained = json.load(f)
    assert trained['metrics'] == {'mIoU': 5.0} and trained['minutes'] == 1.0
    assert 'test_metrics' not in trained
    # finished_record runs nothing: the trained run counts without test,
    # not with it.
    assert finished_record(SEG, None, None, 1, run_dir) is None  # no test opts
    assert finished_record(SEG, None, None, 1, run_dir, test=True) is None
    assert len(jobs) == 2

    # Trained already: only the test runs.
    record, reused = finetune(SEG, 'random', None, None, 1, run_dir,
                              test=True)
    assert reused
    assert jobs[2:] == [('test', checkpoint, 'testing ' + what, options)]
    assert record == dict(
        trained, test_metrics={'mIoU': 7.5},
        test_metrics_source=osp.relpath(
            osp.join(run_dir, 'test', '20240101_000000',
                     '20240101_000000.json')))
    with open(osp.join(run_dir, 'result.json')) as f:
        assert json.load(f) == record

    # Tested already: nothing runs.
    assert finetune(SEG, 'random', None, None, 1, run_dir,
                    test=True) == (record, True)
    assert len(jobs) == 3
    assert finished_record(SEG, None, None, 1, run_dir, test=True) == record
    # Another seed or other options are another run: not finished.
    assert finished_record(SEG, None, None, 2, run_dir, test=True) is None
    assert finished_record(SEG, None, None, 1, run_dir,
                           {'train_cfg.max_iters': 5}, test=True) is None
    assert len(jobs) == 3
