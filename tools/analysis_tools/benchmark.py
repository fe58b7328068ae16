"""Speed and memory of a training step, against mmpretrain's DenseCL and MoCo v2.

Each config and the two mmpretrain references are fed one fixed batch and
stepped in turn (``model.train_step``); the table gives medians of per-round
time ratios and peak memory (see :mod:`dense_contrast.apis.benchmark`).

Examples:
    # R50 at 224 px, 8 images per step, on the CPU (the README table)
    python tools/analysis_tools/benchmark.py configs/densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py --batch 8
    # every R50 and toy config on disk, each at its own batch
    python tools/analysis_tools/benchmark.py
    # on a GPU: fp32 and fp16 AMP, channels_last off and on
    python tools/analysis_tools/benchmark.py CONFIGS --device cuda --precision fp32 fp16 --channels-last off on
"""
import argparse
import os.path as osp
from typing import List, Optional

from mmengine.config import DictAction

from dense_contrast.apis import (default_configs, run_benchmark,
                                 split_config_spec)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time and memory of a training step against '
        "mmpretrain's DenseCL and MoCo v2")
    parser.add_argument(
        'configs',
        nargs='*',
        help='method configs; default: every configs/*/*_resnet50_*.py and '
        'configs/*/*_toyscenes.py on disk. CONFIG:key=value,key=value '
        'measures CONFIG with its own overrides (e.g. '
        'mcl.py:model.head_on_used_windows=True next to mcl.py)')
    parser.add_argument(
        '--batch',
        type=int,
        help='images per step for every config (default: each config\'s '
        'train_dataloader.batch_size)')
    parser.add_argument('--rounds', type=int, default=10,
                        help='timed rounds (default 10)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per model first (default 2)')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' (default) or 'cuda'")
    parser.add_argument(
        '--precision',
        nargs='+',
        default=['fp32'],
        choices=['fp32', 'bf16', 'fp16'],
        help='precisions to measure; bf16/fp16 run under '
        'MixedPrecisionOptimWrapper (default fp32)')
    parser.add_argument(
        '--channels-last',
        nargs='+',
        default=['off'],
        choices=['off', 'on'],
        help='memory formats to measure (default off)')
    parser.add_argument(
        '--with-cp',
        nargs='+',
        default=['off'],
        choices=['off', 'on'],
        help='backbone gradient checkpointing settings (default off)')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='after the rounds, write a torch.profiler table of one step '
        'per model (profile_<model>.txt in --out-dir)')
    parser.add_argument('--source-size', type=int, default=256,
                        help='side of the synthetic source images')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out-dir',
        default='work_dirs/benchmark',
        help='where benchmark.md and benchmark.json go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config')
    args = parser.parse_args(argv)
    if not args.configs:
        args.configs = default_configs()
    for spec in args.configs:
        try:
            path = split_config_spec(spec)[0]
        except ValueError as err:
            parser.error(str(err))
        if not osp.isfile(path):
            parser.error(f'config file {path} does not exist')
    if args.rounds < 1 or args.warmup < 0:
        parser.error('--rounds must be >= 1 and --warmup >= 0')
    return args


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    return run_benchmark(args.configs, args.batch, args.rounds, args.warmup,
                         args.device, args.precision, args.channels_last,
                         args.with_cp, args.profile, args.source_size,
                         args.seed, args.out_dir, args.cfg_options)


if __name__ == '__main__':
    main()
