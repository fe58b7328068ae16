"""Dense probes of pretraining checkpoints on labelled images: one table.

Examples::

    # VOC 2012 in mmseg's layout (data/VOCdevkit/VOC2012), two checkpoints:
    python tools/eval_dense.py CONFIG work_dirs/run/epoch_100.pth \\
        work_dirs/run/epoch_200.pth --data data/VOCdevkit/VOC2012

    # ADE20K (data/ade/ADEChallengeData2016), layer3 of a ResNet:
    python tools/eval_dense.py CONFIG CKPT \\
        --data data/ade/ADEChallengeData2016 --stage 2

    # Any mmseg dataset config file (its train/val datasets):
    python tools/eval_dense.py CONFIG CKPT --data my_dataset_config.py

It prints the table (linear probe, k-NN, Hummingbird retrieval mIoU and the
toy benchmark's correspondence accuracy) and writes ``dense_eval.json`` and
``dense_eval.md`` into ``--out-dir``. The work is done by
:func:`dense_contrast.apis.evaluate_checkpoints`; docs/evaluation.md says
what each number means.
"""
import argparse
import sys
from typing import List, Optional

from dense_contrast.apis import (evaluate_checkpoints, report_markdown,
                                 write_report)
from dense_contrast.preflight import ConfigValidationError
from dense_contrast.utils.extras import MissingExtraError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Dense probes (linear, k-NN, retrieval, correspondence) '
        'of pretraining checkpoints on labelled images')
    parser.add_argument('config', help='the pretraining config')
    parser.add_argument('checkpoints', nargs='+', help='checkpoints to score')
    parser.add_argument(
        '--data', required=True,
        help='an mmseg dataset config file, or a folder: VOC 2012, ADE20K, '
        'img_dir/{train,val} + ann_dir/{train,val}, or toy scenes')
    parser.add_argument('--data-root', help="replaces a config file's "
                        'data_root')
    parser.add_argument('--num-train', type=int, default=500,
                        help='images the probes fit on (0: all)')
    parser.add_argument('--num-val', type=int, default=200,
                        help='images scored (0: all)')
    parser.add_argument('--crop-size', type=int, default=224,
                        help='shorter side resized to it, centre crop')
    parser.add_argument('--num-classes', type=int,
                        help="defaults to the dataset's classes")
    parser.add_argument('--stage', type=int,
                        help='backbone stage (out_indices index; default '
                        'the last)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--toy-root', default='data/toyscenes',
                        help='toy scenes for the correspondence probe')
    parser.add_argument('--no-corr', action='store_true',
                        help='skip the correspondence probe')
    parser.add_argument('--corr-pairs', type=int, default=100,
                        help='view pairs of the correspondence probe')
    parser.add_argument('--corr-size', type=int, default=256,
                        help='side of the correspondence views')
    parser.add_argument('--out-dir', default='work_dirs/eval_dense',
                        help='where dense_eval.json/.md go')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate_checkpoints(
            args.config, args.checkpoints, args.data,
            data_root=args.data_root,
            num_train=args.num_train or None,
            num_val=args.num_val or None,
            crop_size=args.crop_size,
            num_classes=args.num_classes,
            stage=args.stage,
            batch_size=args.batch_size,
            toy_root=None if args.no_corr else args.toy_root,
            num_corr=args.corr_pairs,
            corr_size=args.corr_size)
    except (ConfigValidationError, FileNotFoundError, ValueError,
            MissingExtraError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(report_markdown(report))
    for path in write_report(report, args.out_dir):
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
