"""Print a run's dense probes before training and after its last probed
epoch, with the difference (the probe before training is the random-init
baseline of the same backbone).

The run must log its probes with ``DenseProbeHook(before_train=True)``, as
``configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes-probed.py``
does. Example::

    python tools/analysis_tools/probe_table.py work_dirs/demo_densecl_toyscenes
"""
import argparse
import sys
from typing import List, Optional

from dense_contrast.apis import probe_curve, probe_table


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='dense probes of a run: before training, after, '
        'difference')
    parser.add_argument('work_dir', help='the run\'s work dir')
    parser.add_argument('--out', help='also write the table to this file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        table = probe_table(probe_curve(args.work_dir))
    except ValueError as err:
        raise SystemExit(f'error: {args.work_dir}: {err}')
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
