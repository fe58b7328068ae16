"""The dense probes as the val_evaluator of a short toy pretraining: their
scores reach the logs as validation metrics."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import dense_contrast  # noqa: F401
from dense_contrast.engine import DenseProbeValLoop
from dense_contrast.evaluation import DenseProbeMetric
from tiny_run import CONFIG, json_rows, toy_loader_options


def test_probe_metrics_appear_in_the_val_log(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path),
        **toy_loader_options(data_root, toy_args, batch_size=4),
        'train_dataloader.dataset.indices': 4,  # one step per epoch
        'model.queue_len': 16,
        'model.neck.hid_channels': 32,
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 100,
        'default_hooks.logger.interval': 1,
    })
    cfg.val_cfg = dict(type='DenseProbeValLoop')
    cfg.val_dataloader = dict()
    cfg.val_evaluator = dict(
        type='DenseProbeMetric',
        data_root=data_root,
        num_train=4,
        num_val=2,
        stage=2,
        probes=[
            dict(type='DenseKNNProbe', k=5),
            dict(type='DenseRetrievalProbe', k=5, backend='torch')
        ])
    # mmengine names the logger and the visualizer after the config file
    # and the second the Runner starts; another test's Runner from the
    # same config in the same second would receive this one's logs.
    cfg.experiment_name = tmp_path.name
    runner = Runner.from_cfg(cfg)
    runner.train()

    assert isinstance(runner.val_loop, DenseProbeValLoop)
    keys = ['probe/knn_mIoU', 'probe/knn_aAcc', 'probe/retrieval_mIoU',
            'probe/retrieval_aAcc']
    json_log, = glob.glob(osp.join(str(tmp_path), '*', 'vis_data',
                                   f'{runner.timestamp}.json'))
    rows = json_rows(json_log)
    val_rows = [r for r in rows if 'probe/knn_mIoU' in r]
    assert [r['step'] for r in val_rows] == [1, 2]  # after each epoch
    for row in val_rows:
        for key in keys:
            assert 0.0 <= row[key] <= 100.0, (key, row)
    assert any('loss_dense' in r for r in rows)
    log_file, = glob.glob(osp.join(str(tmp_path), '*', '*.log'))
    with open(log_file) as f:
        assert 'probe/retrieval_mIoU' in f.read()


def test_the_metric_refuses_model_predictions(tiny_toyscenes):
    metric = DenseProbeMetric(tiny_toyscenes[0])
    with pytest.raises(TypeError, match='DenseProbeValLoop'):
        metric.process({}, [object()])
