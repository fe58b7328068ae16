"""Bad input is refused before training, with a message naming it."""
import glob
import os
import os.path as osp
import subprocess
import sys
import warnings

import pytest
import torch
from mmengine.config import Config

import dense_contrast  # noqa: F401
from dense_contrast.registry import MODELS
from dense_contrast.preflight import (ConfigValidationError,
                                      QueueOverEpochWarning,
                                      check_checkpoint_matches,
                                      check_queue_against_epoch,
                                      check_train_data, describe_backbone,
                                      keys_per_epoch, preflight_check)

from tiny_run import CONFIG, MODEL_OPTIONS, ROOT, run_options


def _cfg(options: dict, path: str = CONFIG) -> Config:
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    return cfg


def _error(cfg: Config, path: str = CONFIG, options=None) -> str:
    with pytest.raises(ConfigValidationError) as info:
        preflight_check(cfg, path, options)
    return str(info.value)


@pytest.fixture
def options(tiny_toyscenes):
    return run_options(*tiny_toyscenes)


def test_valid_config_passes(options):
    preflight_check(_cfg(options), CONFIG, options)


def test_unknown_key_names_file_key_and_nearest(tmp_path, options):
    path = str(tmp_path / 'typo.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = {CONFIG!r}\nmodel = dict(neck=dict(hid_channel=8))\n')
    message = _error(_cfg(options, path), path)
    assert (f"{path}: model.neck.hid_channel: DenseProjectionNeck has no "
            "argument 'hid_channel' (did you mean 'hid_channels'?)") in message


def test_unknown_type_and_value_type_from_cfg_options(options):
    options = dict(options, **{
        'model.head.type': 'InfoNCEHeed',
        'train_dataloader.batch_size': '2',
        'param_schedulers': [],
    })
    message = _error(_cfg(options), CONFIG, options)
    assert ("--cfg-options: model.head.type: unknown type 'InfoNCEHeed' in "
            "the 'model' registry (did you mean 'InfoNCEHead'?)") in message
    assert ("--cfg-options: train_dataloader.batch_size: expected int, got "
            "str '2'") in message
    assert "param_schedulers: not a setting mmengine reads; did you mean " \
        "'param_scheduler'?" in message


def test_unknown_pipeline_key_names_base_file(options):
    cfg = _cfg(options)
    cfg.train_dataloader.dataset.pipeline[0]['on_eror'] = 'raise'
    message = _error(cfg)
    assert ("train_dataloader.dataset.pipeline.0.on_eror: "
            "RobustLoadImageFromFile has no argument 'on_eror' (did you mean "
            "'on_error'?)") in message


def _folder_dataset(options, data_root) -> Config:
    """The tiny config on a plain image folder instead of toy scenes."""
    cfg = _cfg(options)
    cfg.train_dataloader.dataset = dict(
        type='mmpretrain.CustomDataset',
        data_root=str(data_root),
        with_label=False,
        pipeline=[])
    return cfg


def test_missing_and_empty_data_root(tmp_path, options):
    missing = tmp_path / 'nowhere'
    message = _error(_folder_dataset(options, missing))
    assert (f"train_dataloader.dataset.data_root: the data root "
            f"'{missing}' does not exist") in message
    empty = tmp_path / 'empty'
    empty.mkdir()
    message = _error(_folder_dataset(options, empty))
    assert f"the data root '{empty}' is empty" in message


def test_folder_without_readable_images(tmp_path, options):
    folder = tmp_path / 'broken'
    (folder / 'a').mkdir(parents=True)
    for i in range(3):
        (folder / 'a' / f'{i}.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'x' * 20)
    message = _error(_folder_dataset(options, folder))
    assert f"the image folder '{folder}' has no readable images" in message
    assert 'none of the first 3 image files decodes' in message
    (folder / 'a').rename(folder / 'notes')
    for png in (folder / 'notes').iterdir():
        png.rename(png.with_suffix('.txt'))
    message = _error(_folder_dataset(options, folder))
    assert f"the image folder '{folder}' holds no image files" in message


def test_batch_larger_than_dataset(options):
    options = dict(options, **{
        'train_dataloader.batch_size': 16,
        'model.queue_len': 64
    })
    message = _error(_cfg(options))
    assert ('train_dataloader.batch_size=16 needs 16 images per step, but '
            'the training dataset has only 12: set '
            'train_dataloader.batch_size to at most 12.') in message


def test_queue_shorter_than_global_batch(options, monkeypatch):
    options = dict(options, **{'train_dataloader.batch_size': 4})
    cfg = _cfg(options)
    cfg.launcher = 'pytorch'
    monkeypatch.setenv('WORLD_SIZE', '8')
    message = _error(cfg)
    assert ('model.queue_len=16 is shorter than the global batch 32 '
            '(train_dataloader.batch_size=4 x 8 processes)') in message


def _tiny_model_state(depth: int, method: str = 'DenseCL') -> dict:
    cfg = _cfg(dict(MODEL_OPTIONS, **{'model.backbone.depth': depth}))
    if method == 'MoCo':
        cfg.model = dict(
            type='mmpretrain.MoCo',
            queue_len=16,
            feat_dim=16,
            backbone=cfg.model.backbone,
            neck=dict(type='MoCoV2Neck', in_channels=64, hid_channels=16,
                      out_channels=16),
            head=dict(type='ContrastiveHead',
                      loss=dict(type='CrossEntropyLoss'), temperature=0.2))
    model = MODELS.build(cfg.model)
    return dict(
        state_dict=model.state_dict(),
        meta=dict(cfg=f"model = dict(type='{method}')\n"))


def test_resume_checkpoint_of_other_depth(tmp_path, options):
    path = str(tmp_path / 'r34.pth')
    torch.save(_tiny_model_state(34), path)
    assert describe_backbone(torch.load(path)['state_dict']) == 'ResNet-34'
    cfg = _cfg(dict(options, resume=True, load_from=path))
    message = _error(cfg)
    assert (f'--resume {path} does not fit the model of this config: the '
            'checkpoint holds DenseCL, ResNet-34, the config builds '
            'DenseCL, ResNet-18;') in message
    assert 'keys only in the checkpoint (backbone.layer1.2.' in message


def test_extract_tool_refuses_other_method(tmp_path, options):
    path = str(tmp_path / 'moco.pth')
    torch.save(_tiny_model_state(18, 'MoCo'), path)
    config = str(tmp_path / 'tiny.py')
    from tiny_run import tiny_config_file
    tiny_config_file(config)
    done = subprocess.run(
        [sys.executable,
         osp.join(ROOT, 'tools', 'model_converters',
                  'extract_backbone_weights.py'), path,
         str(tmp_path / 'out.pth'), '--config', config],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    err = done.stderr
    assert done.returncode == 1, err
    assert (f'input checkpoint {path} does not fit the model of this config: '
            'the checkpoint holds MoCo, ResNet-18, the config builds DenseCL, '
            'ResNet-18;') in err
    assert 'keys only in the model (dense_queue.feats' in err
    assert not (tmp_path / 'out.pth').exists()


def test_train_cli_refuses_before_building(tmp_path, tiny_toyscenes):
    work_dir = tmp_path / 'work'
    options = run_options(*tiny_toyscenes)
    options['model.neck.hid_channel'] = 8
    done = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG,
         '--work-dir', str(work_dir), '--cfg-options'] +
        [f'{k}={v}' for k, v in options.items()],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert ('error: the config has unknown keys or types:\n  --cfg-options: '
            'model.neck.hid_channel: DenseProjectionNeck has no argument '
            "'hid_channel' (did you mean 'hid_channels'?)") in done.stderr
    assert not os.path.exists(work_dir)  # the Runner was never built


def _queue_warnings(cfg: Config) -> list:
    """Messages of the queue-over-epoch warnings of ``preflight_check``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        preflight_check(cfg, CONFIG)
    return [
        str(w.message) for w in caught
        if issubclass(w.category, QueueOverEpochWarning)
    ]


def test_keys_per_epoch():
    assert keys_per_epoch(2000, 32, 1, drop_last=True) == 1984
    assert keys_per_epoch(2000, 32, 1, drop_last=False) == 2000
    # 10 images over 2 processes: 5 each, one batch of 4 each with drop_last
    assert keys_per_epoch(10, 4, 2, drop_last=True) == 8
    assert keys_per_epoch(9, 4, 2, drop_last=False) == 10  # padded to 5 each


def test_queue_longer_than_epoch_warns_with_the_numbers(options):
    # 12 tiny toy images, batch 2 with drop_last: 12 keys an epoch, queue 16.
    messages = _queue_warnings(_cfg(options))
    assert messages == [
        'model.queue_len=16 holds more keys than one epoch pushes: 12 images '
        'per epoch, 12 keys with train_dataloader.batch_size=2, drop_last. '
        'The queue spans 1.33 epochs, so every image meets its own earlier '
        'keys among its negatives (the small-data failure of MoCo-style '
        'queues). Set model.queue_len to at most 12 (the toy configs hold '
        'an eighth of an epoch), or train on more images.'
    ]
    # A queue within the epoch: no warning, and training is never refused.
    assert _queue_warnings(_cfg(dict(options, **{'model.queue_len': 12}))) \
        == []


def _write_images(folder, count: int) -> None:
    import numpy as np
    from PIL import Image
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(
            folder / f'{i:03d}.png')


def test_queue_against_epoch_counts_folder_images_after_indices(
        tmp_path, options):
    _write_images(tmp_path / 'images' / 'a', 24)
    cfg = _folder_dataset(dict(options, **{'model.queue_len': 16}),
                          tmp_path / 'images')
    assert _queue_warnings(cfg) == []  # 24 keys an epoch, queue 16
    cfg.train_dataloader.dataset.indices = 10
    message, = _queue_warnings(cfg)
    assert message.startswith(
        'model.queue_len=16 holds more keys than one epoch pushes: 10 '
        'images per epoch after train_dataloader.dataset.indices=10, 10 '
        'keys with train_dataloader.batch_size=2, drop_last.')
    cfg.train_dataloader.dataset.indices = list(range(8))
    message, = _queue_warnings(cfg)
    assert '8 images per epoch after train_dataloader.dataset.indices ' \
        '(a list), 8 keys' in message
    cfg.train_dataloader.dataset.indices = 'first ten'
    assert ("train_dataloader.dataset.indices: expected an int (the first N "
            "images) or a list of image indices, got str 'first ten'") \
        in _error(cfg)


def test_toy_configs_queues_fit_in_an_epoch():
    """The toy configs' queue (256 keys) is an eighth of an epoch of the
    2,000 toy images: no warning for any of them."""
    paths = sorted(glob.glob(osp.join(ROOT, 'configs', '*',
                                      '*_toyscenes*.py')))
    with_queue = []
    for path in paths:
        cfg = Config.fromfile(path)
        images = check_train_data(cfg, count_up_to=10**6)
        if isinstance(cfg.model.get('queue_len'), int):
            with_queue.append(osp.basename(path))
            assert images == 2000, path
        with warnings.catch_warnings():
            warnings.simplefilter('error', QueueOverEpochWarning)
            assert check_queue_against_epoch(cfg, images) is None, path
    assert len(with_queue) >= 8, with_queue
