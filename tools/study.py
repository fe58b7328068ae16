"""Small-scale study of every method on the toy scenes: dense probes during
pretraining, then the toy Mask R-CNN / FCN transfers, over several seeds.

Sizing (defaults): the methods' toy configs (the toy scale: a quarter-width
ResNet-18, 160 px views of the 128 px toy scenes) on the first 384
training images, batch 32, 4 epochs (48 iterations, a cosine schedule over
them), queues of 256 keys; probes on 100 train / 50 val images read at
256 px (k-NN with k = 5); the transfers at a smaller budget than the toy
configs' (``STUDY_TRANSFER_OPTIONS``; ``--transfer-cfg-options`` overrides
it). These defaults are below the toy configs' own 20 epochs on 2,000
images (see docs/evaluation.md); ``--epochs`` and ``--num-images`` raise
them.
Units run seed by seed (every method's seed 0 first), so a study stopped
early still compares every method; finished units are kept and skipped
when the command runs again. The work
is done by :mod:`dense_contrast.apis.study`.

Examples::

    python tools/study.py                                  # the whole study
    python tools/study.py --methods random densecl mocov2 --seeds 0
    python tools/study.py --no-transfer                    # probes only
    python tools/study.py --quick --work-dir /tmp/study    # tiny smoke run
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import DictAction

from dense_contrast.apis import (METHODS, TRANSFER_CONFIGS, StudySettings,
                                 run_study)


def parse_args(argv: Optional[List[str]] = None) -> StudySettings:
    p = argparse.ArgumentParser(
        description='Pretrain every method on toy scenes with an equal '
        'budget, probe and transfer, tabulate and plot.')
    p.add_argument('--work-dir', default='work_dirs/study')
    p.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--data-root', default=None,
                   help='toy scenes folder (default data/toyscenes; '
                   '--quick: a tiny one under the work dir)')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--num-images', type=int, default=384,
                   help='pretraining images (the first ones of train)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--queue-len', type=int, default=256)
    p.add_argument('--probe-interval', type=int, default=1)
    p.add_argument('--probe-train', type=int, default=100)
    p.add_argument('--probe-val', type=int, default=50)
    p.add_argument('--no-transfer', action='store_true')
    p.add_argument('--transfer-configs', nargs='+', default=TRANSFER_CONFIGS)
    p.add_argument('--transfer-seeds', nargs='+', type=int, default=None,
                   help='run the transfers for these seeds only (default: '
                   'every seed); the probes run for every seed')
    p.add_argument('--transfer-cfg-options', nargs='+', action=DictAction,
                   default={}, help='overrides for every transfer run')
    p.add_argument('--quick', action='store_true',
                   help='tiny settings for a smoke test (well under a '
                   'minute per method): 16 images of 64 px, 2 epochs, no '
                   'transfers')
    try:
        return StudySettings(**vars(p.parse_args(argv)))
    except ValueError as err:  # a size below 1
        p.error(str(err))


def main(argv: Optional[List[str]] = None) -> int:
    return 1 if run_study(parse_args(argv)) else 0


if __name__ == '__main__':
    sys.exit(main())
