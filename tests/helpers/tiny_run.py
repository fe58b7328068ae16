"""Tiny DenseCL settings shared by the robustness tests (ResNet-18 with
8 base channels, 32 px views, batch 2)."""
import json
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'densecl',
                  'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
BATCH = 2
EPOCHS = 2

# Settings of the model only (for a config file or --cfg-options).
MODEL_OPTIONS = {
    'model.queue_len': 16,
    'model.backbone.base_channels': 8,
    'model.backbone.stem_channels': 8,
    'model.neck.in_channels': 64,
    'model.neck.hid_channels': 16,
}


def toy_loader_options(data_root: str, toy_args: dict,
                       batch_size: int) -> dict:
    """The training loader on the tiny toy scenes, in the main process."""
    options = {f'train_dataloader.dataset.{k}': v for k, v in toy_args.items()}
    options.update({
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
    })
    return options


def json_rows(path: str) -> list:
    """The records of an mmengine json log (one json object a line)."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_options(data_root: str, toy_args: dict) -> dict:
    """Everything a short training run on the tiny toy scenes needs."""
    options = {f'train_dataloader.dataset.{k}': v for k, v in toy_args.items()}
    options.update(MODEL_OPTIONS)
    options.update({
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.dataset.pipeline.1.transforms.0.0.scale': 32,
        'train_dataloader.batch_size': BATCH,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_cfg.max_epochs': EPOCHS,
        'param_scheduler.0.T_max': EPOCHS,
        'param_scheduler.0.end': EPOCHS,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': -1,
    })
    return options


def as_cli(options: dict) -> list:
    return [f'{k}={v}' for k, v in options.items()]


def tiny_config_file(path: str, base: str = CONFIG) -> str:
    """Write a config inheriting ``base`` with the tiny model."""
    with open(path, 'w') as f:
        f.write(f'_base_ = {base!r}\n'
                'model = dict(queue_len=16, '
                'backbone=dict(base_channels=8, stem_channels=8), '
                'neck=dict(in_channels=64, hid_channels=16))\n')
    return path
