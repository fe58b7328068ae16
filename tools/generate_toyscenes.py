"""Generate the toy scenes data set (images, semantic maps, COCO json).

Examples::

    python tools/generate_toyscenes.py                    # data/toyscenes
    python tools/generate_toyscenes.py --root /tmp/ts --num-train 200 --force

Without ``--force`` an existing, complete data set with the same parameters
is kept, and one with other parameters is an error.
"""
import argparse
import os.path as osp
import sys
import time

from dense_contrast.datasets import (ToyScenesMismatchError, ensure_toyscenes,
                                     generate_toyscenes)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the toy scenes data set.')
    parser.add_argument(
        '--root', default='data/toyscenes', help='output folder')
    parser.add_argument(
        '--num-train', type=int, default=2000, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=400, help='validation images')
    parser.add_argument(
        '--num-test', type=int, default=400,
        help='test images (drawn from seed + 1000)')
    parser.add_argument(
        '--img-size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--workers', type=int, default=2, help='worker processes')
    parser.add_argument(
        '--force',
        action='store_true',
        help='regenerate even if the folder already holds a data set')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    kwargs = dict(
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        img_size=args.img_size,
        seed=args.seed,
        num_workers=args.workers,
        progress=not args.no_progress)
    existed = osp.isfile(osp.join(args.root, 'meta.json'))
    start = time.perf_counter()
    if args.force:
        meta = generate_toyscenes(args.root, **kwargs)
    else:
        try:
            meta = ensure_toyscenes(args.root, **kwargs)
        except ToyScenesMismatchError as e:
            sys.exit(f'error: {e} (or pass --force)')
    elapsed = time.perf_counter() - start

    root = osp.abspath(args.root)
    print(f'toy scenes (generator v{meta["version"]}, seed {meta["seed"]}, '
          f'{meta["img_size"]} px) in {root}')
    for split, stats in meta['counts'].items():
        print(f'  {split}: {stats["images"]} images in '
              f'{osp.join(root, split, "images")}, semantic maps in '
              f'{osp.join(root, split, "semantic")}, {stats["instances"]} '
              'instances in '
              f'{osp.join(root, "annotations", f"instances_{split}.json")}')
    print(f'  classes: {", ".join(meta["classes"])}')
    if existed and not args.force:
        print('already generated; nothing done (use --force to regenerate)')
    else:
        print(f'generated in {elapsed:.1f} s')


if __name__ == '__main__':
    main()
