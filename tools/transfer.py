"""Pretrain (optionally), extract, fine-tune downstream, tabulate: one command.

Examples::

    # From a pretraining checkpoint, to the toy FCN with a frozen backbone
    # and with 5 % of the labels, against random initialisation, scored on
    # the held-out test split:
    python tools/transfer.py work_dirs/my_run/epoch_20.pth \\
        --downstream configs/benchmarks/mmsegmentation/fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py \\
                     configs/benchmarks/mmsegmentation/fcn_r18-d8_1xb8-1000i_toyscenes-5pct-128x128.py \\
        --random-init --test --work-dir work_dirs/transfer_my_run

    # From a pretraining config (pretrains first, resuming an unfinished
    # run), with an mmpretrain MoCo v2 baseline pretrained on the same data,
    # three seeds, 8 GPUs per run:
    python tools/transfer.py configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes.py \\
        --mocov2 configs/mocov2/mocov2_resnet18_1xb32-coslr-20e_toyscenes.py \\
        --downstream CFG [CFG ...] --seeds 0 1 2 --gpus 8

Outputs under ``--work-dir``: ``weights/<init>_backbone.pth`` (extracted
backbones), ``<init>/<config name>/seed<k>/`` (one Runner work dir per run),
``results.json`` and ``results.md``. The work is done by
:func:`dense_contrast.apis.run_transfer`, which says how runs are started,
read and reused.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

from dense_contrast.apis import RunError, run_transfer


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Extract a pretrained backbone, fine-tune it with '
        'downstream configs (and from random init / a MoCo v2 baseline), '
        'write a results table.')
    parser.add_argument(
        'pretrain',
        help='pretraining checkpoint (.pth) or pretraining config (.py, '
        'pretrained first)')
    parser.add_argument(
        '--downstream',
        nargs='+',
        required=True,
        help='downstream configs (mmdet / mmseg / mmpretrain)')
    parser.add_argument(
        '--work-dir', required=True, help='folder for all outputs')
    parser.add_argument(
        '--name',
        help='label of the pretrained weights in the table (default: the '
        'algorithm recorded in the checkpoint, lower case)')
    parser.add_argument(
        '--random-init',
        action='store_true',
        help='also fine-tune from random initialisation')
    parser.add_argument(
        '--mocov2',
        help='also fine-tune from this MoCo v2 checkpoint or config '
        '(pretrained first, on the data its config names)')
    parser.add_argument(
        '--seeds', nargs='+', type=int, default=[0], help='downstream seeds')
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='processes per run; > 1 goes through tools/dist_train.sh')
    parser.add_argument(
        '--pretrain-work-dir',
        help='work dir of the pretraining run when PRETRAIN is a config '
        '(default: WORK_DIR/pretrain_<config name>)')
    parser.add_argument(
        '--pretrain-cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides for pretraining runs, key=value')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides for every downstream run, key=value')
    parser.add_argument(
        '--test',
        action='store_true',
        help='also score each fine-tune on its config\'s test split (the '
        'package\'s tools/test.py on the last checkpoint); the table then '
        'shows test metrics. Choose settings on val, report test')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    for path in [args.pretrain, args.mocov2, *args.downstream]:
        if path is not None and not osp.isfile(path):
            parser.error(f'no such file: {path}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        run_transfer(args.pretrain, args.downstream, args.work_dir,
                     args.name, args.random_init, args.mocov2, args.seeds,
                     args.gpus, args.pretrain_work_dir,
                     args.pretrain_cfg_options, args.cfg_options,
                     test=args.test)
    except RunError as err:
        raise SystemExit(f'error: {err}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
