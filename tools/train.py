"""Pretrain a model from a config with mmengine's Runner.

Examples:
    python tools/train.py configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes.py
    python tools/train.py CONFIG --resume            # latest checkpoint in work_dir
    python tools/train.py CONFIG --resume PATH.pth   # a given checkpoint
    python tools/train.py CONFIG --cfg-options train_dataloader.batch_size=16
    python tools/train.py CONFIG --vis tensorboard   # or wandb, or both
    bash tools/dist_train.sh CONFIG 8                # 8 GPUs via torchrun

The work is done by :mod:`dense_contrast.apis.train`.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config, DictAction

from dense_contrast.apis import (VIS_BACKENDS, merge_train_options,
                                 run_training)
from dense_contrast.engine import NonFiniteLossError, TrainingInterrupted
from dense_contrast.preflight import ConfigValidationError


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
        '--vis',
        nargs='+',
        choices=sorted(VIS_BACKENDS),
        default=[],
        help='also log to these visualisation backends (next to the json '
        'logs); same as --cfg-options vis=tensorboard')
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


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'error: config file {args.config} does not exist')
    try:
        cfg = merge_train_options(
            Config.fromfile(args.config), args.config, args.work_dir,
            args.resume, args.amp, args.auto_scale_lr, args.cfg_options,
            args.launcher, args.vis)
        run_training(cfg, args.config, args.cfg_options)
    except (ConfigValidationError, NonFiniteLossError) as err:
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
