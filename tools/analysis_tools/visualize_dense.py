"""Pictures of what a dense model learned, from a checkpoint and one image.

Writes ``pca.png`` (first principal components of the last feature map),
``matches.png`` (DenseCL's matching between two views) and, for DSC,
``clusters.png`` into ``--out-dir`` (see :mod:`dense_contrast.apis.visualize`).

Examples::

    python tools/analysis_tools/visualize_dense.py CONFIG work_dirs/run/epoch_20.pth \\
        --toyscene-index 3 --out-dir work_dirs/run/vis
    python tools/analysis_tools/visualize_dense.py CONFIG CKPT --image photo.jpg --size 448
"""
import argparse
import sys
from typing import List, Optional

from dense_contrast.apis import load_model, source_image, write_pictures
from dense_contrast.preflight import ConfigValidationError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='PNG pictures of dense features, matches and clusters')
    parser.add_argument('config', help='the config the checkpoint was '
                        'trained with')
    parser.add_argument('checkpoint', help='a pretraining checkpoint')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--image', help='an image file')
    source.add_argument(
        '--toyscene-index',
        type=int,
        help='render this toy scenes image (seed 0, --split) instead')
    parser.add_argument('--split', default='val', choices=['train', 'val'])
    parser.add_argument(
        '--size', type=int, default=224, help='image side for pca/clusters')
    parser.add_argument(
        '--view-size', type=int, default=160, help='side of the two views')
    parser.add_argument('--seed', type=int, default=0, help='crop seed')
    parser.add_argument('--out-dir', required=True, help='output folder')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        model = load_model(args.config, args.checkpoint)
    except ConfigValidationError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    try:
        rgb = source_image(args.image, args.toyscene_index, args.split,
                           max(args.size, args.view_size))
    except (FileNotFoundError, ValueError) as err:
        print(f'error: --image {err}', file=sys.stderr)
        return 1
    for path in write_pictures(model, rgb, args.out_dir, args.size,
                               args.view_size, args.seed):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
