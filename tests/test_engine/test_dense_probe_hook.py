"""DenseProbeHook inside a short toy pretraining: its scores reach the logs."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import dense_contrast  # noqa: F401
from tiny_run import CONFIG, json_rows, toy_loader_options


def test_probe_scores_appear_in_the_logs(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'work_dir': str(tmp_path),
        **toy_loader_options(data_root, toy_args, batch_size=4),
        'train_dataloader.dataset.indices': 8,
        'model.queue_len': 16,
        'model.neck.hid_channels': 32,
        'train_cfg.max_epochs': 2,
        'default_hooks.checkpoint.interval': 100,
        'default_hooks.logger.interval': 1,
    })
    cfg.custom_hooks = cfg.custom_hooks + [
        dict(
            type='DenseProbeHook',
            data_root=data_root,
            interval=1,
            before_train=True,
            num_train=6,
            num_val=2,
            stage=2,
            probes=[
                dict(type='DenseLinearProbe', steps=10),
                dict(type='DenseKNNProbe', k=5)
            ])
    ]
    # mmengine names the logger and the visualizer after the config file
    # and the second the Runner starts; another test's Runner from the
    # same config in the same second would receive this one's logs.
    cfg.experiment_name = tmp_path.name
    runner = Runner.from_cfg(cfg)
    runner.train()

    keys = ['probe/linear_mIoU', 'probe/linear_aAcc', 'probe/knn_mIoU',
            'probe/knn_aAcc']
    json_log, = glob.glob(osp.join(str(tmp_path), '*', 'vis_data',
                                   f'{runner.timestamp}.json'))
    rows = json_rows(json_log)
    probe_rows = [r for r in rows if 'probe/linear_mIoU' in r]
    loss_rows = [r for r in rows if 'loss_dense' in r]
    assert loss_rows, 'the losses are in the same json log'
    assert [r['epoch'] for r in probe_rows] == [0, 1, 2]
    assert [r['step'] for r in probe_rows] == [0, 2, 4]
    for row in probe_rows:
        for key in keys:
            assert 0.0 <= row[key] <= 100.0, (key, row)
    # The vis backend's own scalars file and the message hub have them too.
    scalars, = glob.glob(osp.join(str(tmp_path), '*', 'vis_data',
                                  'scalars.json'))
    assert sum('probe/knn_mIoU' in r for r in json_rows(scalars)) == 3
    assert runner.message_hub.get_scalar(
        'probe/knn_mIoU').current() == pytest.approx(
            probe_rows[-1]['probe/knn_mIoU'])
    log_file, = glob.glob(osp.join(str(tmp_path), '*', '*.log'))
    with open(log_file) as f:
        assert 'Dense probes after epoch 2' in f.read()
