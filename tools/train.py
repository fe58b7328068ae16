"""Pretrain a model from a config with mmengine's Runner.

Examples:
    python tools/train.py configs/densecl/densecl_resnet18_1xb32-coslr-8e_toyscenes.py
    python tools/train.py CONFIG --resume            # latest checkpoint in work_dir
    python tools/train.py CONFIG --resume PATH.pth   # a given checkpoint
    python tools/train.py CONFIG --cfg-options train_dataloader.batch_size=16
    bash tools/dist_train.sh CONFIG 8                # 8 GPUs via torchrun
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

# Allow running from a checkout without installing (the setup installs it
# editable, so this is a fallback only).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pretrain a dense_contrast model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='where logs and checkpoints go; defaults to '
        'work_dirs/<config name>')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, with no value, from the '
        'latest checkpoint in the work_dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision: fp16 with loss scaling on a GPU, '
        'bf16 on the CPU (MixedPrecisionOptimWrapper)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual global batch size '
        '(base batch size from the config\'s auto_scale_lr)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value, e.g. '
        'model.queue_len=4096 train_dataloader.batch_size=16')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (tools/dist_train.sh uses pytorch)')
    # torchrun sets LOCAL_RANK; older launchers pass --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        # mmengine's AmpOptimWrapper refuses CPUs; this one picks fp16 with
        # loss scaling on a GPU and bf16 on the CPU.
        cfg.optim_wrapper.type = 'MixedPrecisionOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise SystemExit(
                f'error: --resume {args.resume}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise SystemExit(
                f'error: --auto-scale-lr: {args.config} has no '
                "'auto_scale_lr = dict(base_batch_size=...)' entry")
        cfg.auto_scale_lr.enable = True

    if args.launcher != 'none' and not torch.cuda.is_available():
        # CPU processes: gloo instead of NCCL, and DDP without device ids.
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel')
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


def init_cpu_process_group(cfg: Config) -> None:
    """Start the gloo process group of a CPU-only torchrun job.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device``
    unconditionally, which fails without a GPU; the Runner skips its own
    initialisation when a process group already exists.
    """
    if (cfg.launcher == 'pytorch' and not torch.cuda.is_available()
            and not torch.distributed.is_initialized()):
        torch.distributed.init_process_group(
            backend=cfg.env_cfg.dist_cfg.backend, init_method='env://')


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.config):
        raise SystemExit(f'error: config file {args.config} does not exist')
    cfg = merge_args(Config.fromfile(args.config), args)
    # Bad config keys/types, data, queue length or --resume checkpoint:
    # refuse them before any compute (dense_contrast/preflight).
    from dense_contrast.engine.hooks import (NonFiniteLossError,
                                             TrainingInterrupted)
    from dense_contrast.preflight import (ConfigValidationError,
                                                 preflight_check)
    try:
        preflight_check(cfg, args.config, args.cfg_options)
    except ConfigValidationError as err:
        raise SystemExit(f'error: {err}')
    init_cpu_process_group(cfg)
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
        # Close gloo/NCCL before interpreter teardown: left to exit, gloo's
        # threads can abort a finished rank (SIGABRT, "terminate called").
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    except NonFiniteLossError as err:
        raise SystemExit(f'error: {err}')
    except TrainingInterrupted as err:  # SIGTERM: a checkpoint was written
        print(err, file=sys.stderr)
        raise SystemExit(128 + err.signum)
    except KeyboardInterrupt:
        print('interrupted: the work since the last checkpoint is lost; '
              'continue with --resume', file=sys.stderr)
        raise SystemExit(130)


if __name__ == '__main__':
    main()
