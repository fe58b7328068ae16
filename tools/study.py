"""Small-scale study of the methods on the toy scenes: dense probes during
pretraining, then frozen-backbone and low-label transfers, over several
seeds.

Sizing (defaults, :class:`dense_contrast.apis.StudySettings`): every
method (MCL's toy step costs about 4 DenseCL steps on a CPU), the
methods' toy configs as they are (a quarter-width
ResNet-18, 160 px views of the 128 px toy scenes, the 2,000 training
images, batch 32, 20 epochs, queues of 256 keys), seeds 0, 1 and 2; probes
of layer3 every 5 epochs (linear, k-NN with k = 5, dense correspondence;
200 train images, scored on 200 test images read at 256 px); two toy FCN
transfers scored on the test split: the frozen backbone with a linear head
and the fine-tune on 5 % of the labels (run at lr 0.4 and 0.8, each unit
reporting the test score of the rate its val score chooses;
``--transfer-lrs``). On 2 CPU cores one seed of every method takes about
2 hours in two processes side by side (split ``--methods``), the whole
study about 6; docs/evaluation.md has the measured times.

Units run seed by seed (every method's seed 0 first), so a study stopped
early still compares every method; finished units are kept and skipped
when the command runs again. ``--report-only`` rewrites the table and the
plot from ``study.json`` without running anything. The work is done by
:mod:`dense_contrast.apis.study`.

Examples::

    python tools/study.py                                  # the whole study
    python tools/study.py --methods random densecl mocov2 --seeds 0
    python tools/study.py --no-transfer                    # probes only
    python tools/study.py --finished-only                  # finished units
    python tools/study.py --report-only --work-dir docs/study
    python tools/study.py --quick --work-dir /tmp/study    # tiny smoke run
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

from dense_contrast.apis import (METHODS, RunError, StudySettings,
                                 report_study, run_study)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    d = StudySettings()
    p = argparse.ArgumentParser(
        description='Pretrain the methods on toy scenes with an equal '
        'budget, probe and transfer, tabulate and plot.')
    p.add_argument('--work-dir', default=d.work_dir)
    p.add_argument(
        '--methods', nargs='+', default=d.methods, choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=d.seeds)
    p.add_argument('--data-root', default=None,
                   help='toy scenes folder (default data/toyscenes; '
                   '--quick: a tiny one under the work dir)')
    p.add_argument('--epochs', type=int, default=d.epochs)
    p.add_argument('--num-images', type=int, default=d.num_images,
                   help='pretraining images (the first ones of train)')
    p.add_argument('--batch-size', type=int, default=d.batch_size)
    p.add_argument('--queue-len', type=int, default=d.queue_len)
    p.add_argument('--probe-interval', type=int, default=d.probe_interval)
    p.add_argument('--probe-train', type=int, default=d.probe_train)
    p.add_argument('--probe-val', type=int, default=d.probe_val,
                   help='probe scoring images (test split)')
    p.add_argument('--no-transfer', action='store_true')
    p.add_argument('--transfer-configs', nargs='+',
                   default=d.transfer_configs)
    p.add_argument('--transfer-seeds', nargs='+', type=int, default=None,
                   help='run the transfers for these seeds only (default: '
                   'every seed); the probes run for every seed')
    p.add_argument('--transfer-cfg-options', nargs='+', action=DictAction,
                   default={}, help='overrides for every transfer run')
    p.add_argument(
        '--transfer-lrs', nargs='+', action=DictAction,
        default=d.transfer_lrs, metavar='CONFIG_NAME=LR,LR',
        help='learning rates to run a transfer config at (its file name '
        'without .py); each unit reports the test score of the rate best '
        'on val; CONFIG_NAME=None runs it at its own rate. Default: '
        + ' '.join(f'{k}={",".join(map(str, v))}'
                   for k, v in d.transfer_lrs.items()))
    p.add_argument('--finished-only', action='store_true',
                   help='run nothing: tabulate the units and transfers '
                   'already finished in the work dir (a study stopped '
                   'early, or run in parts side by side)')
    p.add_argument('--quick', action='store_true',
                   help='tiny settings for a smoke test (well under a '
                   'minute per method): 16 images of 64 px, 2 epochs, no '
                   'transfers')
    p.add_argument('--report-only', action='store_true',
                   help='rewrite study.md and probe_curves.png from the '
                   'work dir\'s study.json; run nothing')
    args = p.parse_args(argv)
    names = [osp.splitext(osp.basename(c))[0] for c in args.transfer_configs]
    unknown = sorted(
        set(args.transfer_lrs) - set(names) - set(d.transfer_lrs))
    if unknown:
        p.error(f'--transfer-lrs {unknown[0]}: not one of the transfer '
                f'configs {names}')
    if not args.report_only:
        try:
            StudySettings(**{k: v for k, v in vars(args).items()
                             if k != 'report_only'})
        except ValueError as err:  # a size below 1
            p.error(str(err))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        try:
            print(report_study(args.work_dir), end='')
        except RunError as err:
            print(f'study: {err}', file=sys.stderr)
            return 1
        return 0
    settings = StudySettings(**{k: v for k, v in vars(args).items()
                                if k != 'report_only'})
    return 1 if run_study(settings) else 0


if __name__ == '__main__':
    sys.exit(main())
