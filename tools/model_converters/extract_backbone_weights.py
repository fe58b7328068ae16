"""Extract backbone weights from a dense_contrast pretraining checkpoint.

Example::

    python tools/model_converters/extract_backbone_weights.py \\
        work_dirs/densecl_r50/epoch_200.pth densecl_r50_backbone.pth

The output holds tensors only and loads with ``torch.load(path,
weights_only=True)``; paste the printed ``init_cfg`` line into an mmdet or
mmseg ``ResNet`` backbone config.
"""
import argparse
import os.path as osp
import pickle
import sys
from typing import List, Optional

from dense_contrast.utils.extract import (DEFAULT_PREFIX,
                                          extract_backbone_weights,
                                          extract_detector_weights,
                                          pretrained_init_cfg)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, i.e. ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: ``input``, ``output``, ``prefix``, ``config``,
        ``no_meta``, ``with_fpn_head``, ``fpn_start_level``.
    """
    parser = argparse.ArgumentParser(
        description='Extract the backbone of a pretraining checkpoint into a '
        'tensors-only file for mmdet/mmseg init_cfg.')
    parser.add_argument('input', help='pretraining checkpoint (.pth)')
    parser.add_argument(
        'output', help='output file; missing folders are created')
    parser.add_argument(
        '--prefix',
        default=DEFAULT_PREFIX,
        help='submodule to extract, stripped from the key names '
        f'(default: {DEFAULT_PREFIX})')
    parser.add_argument(
        '--config',
        help='the config the checkpoint should come from: refuse a '
        'checkpoint of another method or backbone depth, naming the keys '
        'that differ')
    parser.add_argument(
        '--no-meta',
        action='store_true',
        help='write only "state_dict" (no source/sha256/algorithm "meta")')
    parser.add_argument(
        '--with-fpn-head',
        action='store_true',
        help='MCL: also write the FPN and the region-head convs, with mmdet '
        'detector names (backbone.*, neck.*, '
        'roi_head.bbox_head.shared_convs.*); --prefix is ignored')
    parser.add_argument(
        '--fpn-start-level',
        type=int,
        default=0,
        help='with --with-fpn-head: start_level of the target detector\'s '
        'FPN; 1 for RetinaNet (C3-C5), whose lateral_convs.0 is MCL\'s '
        'lateral_convs.1 (default: 0, Mask R-CNN)')
    args = parser.parse_args(argv)
    if args.fpn_start_level and not args.with_fpn_head:
        parser.error('--fpn-start-level needs --with-fpn-head')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the extraction and print a summary.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to None, i.e. ``sys.argv[1:]``.

    Returns:
        int: The exit status, 0 on success and 1 on a reported error.
    """
    args = parse_args(argv)
    try:
        if args.config is not None:
            from mmengine.config import Config

            from dense_contrast.preflight import \
                check_checkpoint_matches
            check_checkpoint_matches(
                Config.fromfile(args.config), args.input, 'input checkpoint')
        if args.with_fpn_head:
            extracted = extract_detector_weights(
                args.input,
                args.output,
                with_meta=not args.no_meta,
                fpn_start_level=args.fpn_start_level)
        else:
            extracted = extract_backbone_weights(
                args.input,
                args.output,
                prefix=args.prefix,
                with_meta=not args.no_meta)
    except (FileNotFoundError, ValueError, pickle.UnpicklingError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    out_path = osp.abspath(args.output)
    print(f'Wrote {len(extracted["state_dict"])} tensors to {out_path}')
    if args.with_fpn_head:
        print('Use it in an mmdet config with (one line per module):')
        for prefix in ('backbone.', 'neck.', 'roi_head.bbox_head.'):
            print(f"    {pretrained_init_cfg(out_path)[:-1]}, "
                  f"prefix={prefix!r})")
        return 0
    print('Use it in an mmdet/mmseg backbone config with:')
    print(f'    {pretrained_init_cfg(out_path)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
