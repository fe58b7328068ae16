"""Draw a run's loss and evaluation (probe) curves into a PNG.

Reads mmengine's json scalar logs (``<work_dir>/<timestamp>/vis_data/
<timestamp>.json``); a work dir contributes all its timestamps, in order.
Examples::

    python tools/analysis_tools/plot_curves.py work_dirs/demo_densecl_toyscenes --out curves.png
    python tools/analysis_tools/plot_curves.py RUN/20260101_120000/vis_data/20260101_120000.json \\
        --keys loss loss_dense probe/linear_mIoU --out curves.png

The work is done by :func:`dense_contrast.apis.plot_curves`.
"""
import argparse
import sys
from typing import List, Optional

from dense_contrast.apis import CurveLogError, plot_curves


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='loss and evaluation curves of a run, as a PNG')
    parser.add_argument(
        'logs', nargs='+',
        help='work dirs or json scalar log files, read as one run')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument(
        '--keys', nargs='+',
        help='scalars to draw (default: the losses and every evaluation '
        'scalar, e.g. probe/linear_mIoU)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--columns', type=int, default=2,
                        help='panels per row (default 2)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        keys = plot_curves(args.logs, args.out, args.keys, args.title,
                           args.columns)
    except CurveLogError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'{args.out}: {", ".join(keys)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
