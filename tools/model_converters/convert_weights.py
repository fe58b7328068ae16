"""Convert weights between other projects' layouts and this project's.

Examples::

    # the DenseCL authors' checkpoint -> a dense_contrast DenseCL checkpoint
    python tools/model_converters/convert_weights.py densecl_r50.pth \\
        densecl_r50_dc.pth --from openselfsup-densecl --to dense_contrast
    # a dense_contrast checkpoint -> torchvision resnet50 / detectron2
    python tools/model_converters/convert_weights.py epoch_200.pth \\
        r50_tv.pth --from dense_contrast --to torchvision
    python tools/model_converters/convert_weights.py epoch_200.pth \\
        r50_d2.pkl --from dense_contrast --to detectron2

See docs/weights.md for every layout. Nothing is written when the input is
not of the declared layout; the error names the missing and unexpected keys.
"""
import argparse
import os.path as osp
import pickle
import sys
from typing import List, Optional

from dense_contrast.converters import (SOURCE_LAYOUTS, TARGETS,
                                       convert_weights)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, i.e. ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``input``, ``output``, ``source``, ``target``,
        ``config``, ``no_meta``.
    """
    parser = argparse.ArgumentParser(
        description='Convert a checkpoint between weight layouts.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='source layouts:\n' + '\n'.join(
            f'  {name}: {desc}'
            for name, (_, desc) in SOURCE_LAYOUTS.items()) +
        '\ntarget layouts:\n' + '\n'.join(
            f'  {name}: {desc}' for name, desc in TARGETS.items()))
    parser.add_argument('input', help='input checkpoint (.pth)')
    parser.add_argument(
        'output', help='output file (.pth, or .pkl for detectron2); '
        'missing folders are created')
    parser.add_argument(
        '--from',
        dest='source',
        required=True,
        choices=sorted(SOURCE_LAYOUTS),
        help='layout of the input')
    parser.add_argument(
        '--to',
        dest='target',
        required=True,
        choices=sorted(TARGETS),
        help='layout of the output')
    parser.add_argument(
        '--config',
        help='a config whose model the converted weights must fit exactly '
        '(default: a model shaped like the input)')
    parser.add_argument(
        '--no-meta',
        action='store_true',
        help='write only "state_dict" (dense_contrast, backbone, detector)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion and print a summary.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, i.e. ``sys.argv[1:]``.

    Returns:
        int: The exit status, 0 on success and 1 on a reported error.
    """
    args = parse_args(argv)
    try:
        saved = convert_weights(
            args.input,
            args.output,
            args.source,
            args.target,
            config=args.config,
            with_meta=not args.no_meta)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    weights = saved.get('model', saved.get('state_dict', saved))
    print(f'Wrote {len(weights)} entries ({args.target}) to '
          f'{osp.abspath(args.output)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
