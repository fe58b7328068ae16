"""FLOPs and parameters of a config's encoder, through mmengine.analysis.

One image through the online backbone (optionally with its neck), the part
that transfers downstream; the whole model's parameter count (key encoder
and heads included) is printed too. Examples::

    python tools/analysis_tools/get_flops.py configs/densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py
    python tools/analysis_tools/get_flops.py CONFIG --shape 160 --part backbone+neck --table
    mim run dense_contrast get_flops CONFIG

The work is done by :func:`dense_contrast.apis.model_complexity`.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config, DictAction

from dense_contrast.apis import COMPLEXITY_PARTS, model_complexity


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='FLOPs and parameters of a config\'s encoder')
    parser.add_argument('config', help='pretraining config file')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[224],
        help='input size: H (square) or H W (default 224)')
    parser.add_argument('--part', choices=COMPLEXITY_PARTS,
                        default='backbone', help='what to measure')
    parser.add_argument('--table', action='store_true',
                        help='also print mmengine\'s per-module table')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file {args.config} does not exist',
              file=sys.stderr)
        return 1
    if len(args.shape) not in (1, 2):
        print(f'error: --shape takes H or H W, got {args.shape}',
              file=sys.stderr)
        return 1
    height, width = (args.shape * 2)[:2]
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        info = model_complexity(cfg, (3, height, width), args.part)
    except ValueError as err:
        print(f'error: {args.config}: {err}', file=sys.stderr)
        return 1
    if args.table:
        print(info['table'])
    print(f'config: {args.config}\n'
          f'input: {info["input_shape"]}, part: {info["part"]}\n'
          f'FLOPs: {info["flops_str"]} ({info["flops"]})\n'
          f'parameters: {info["params_str"]} ({info["params"]}); whole '
          f'model {info["model_params"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
