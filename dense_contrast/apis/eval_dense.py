"""Score pretraining checkpoints with the dense probes on labelled images
(``tools/eval_dense.py``): a table of linear probe, k-NN, Hummingbird
retrieval and, on the toy benchmark, correspondence scores, written as json
and markdown."""
import json
import os
import os.path as osp
import time
from typing import Any, Dict, List, Optional, Sequence

import torch

from dense_contrast.evaluation.dense_probes import (DenseCorrespondenceProbe,
                                                    DenseProbeSuite,
                                                    load_segmentation_split,
                                                    model_inputs,
                                                    split_configs)

from .visualize import load_model

__all__ = ['DEFAULT_EVAL_PROBES', 'evaluate_checkpoints', 'report_markdown',
           'write_report']

#: The probes of ``tools/eval_dense.py``: linear, k-NN and Hummingbird's
#: retrieval with the paper's k = 30 and temperature 0.02.
DEFAULT_EVAL_PROBES = (
    dict(type='DenseLinearProbe'),
    dict(type='DenseKNNProbe'),
    dict(type='DenseRetrievalProbe'),
)

#: Score columns of the table, in order (others follow).
COLUMNS = ('linear_mIoU', 'knn_mIoU', 'retrieval_mIoU', 'corr_acc',
           'corr_chance')


def evaluate_checkpoints(config: str,
                         checkpoints: Sequence[str],
                         data: str,
                         data_root: Optional[str] = None,
                         num_train: Optional[int] = 500,
                         num_val: Optional[int] = 200,
                         crop_size: int = 224,
                         num_classes: Optional[int] = None,
                         stage: Optional[int] = None,
                         probes: Sequence[dict] = DEFAULT_EVAL_PROBES,
                         batch_size: int = 32,
                         toy_root: Optional[str] = 'data/toyscenes',
                         num_corr: int = 100,
                         corr_size: int = 256) -> Dict[str, Any]:
    """Probe the backbone of every checkpoint on one labelled data set.

    The labelled splits are read once (:class:`DenseProbeSuite`); every
    checkpoint is loaded into the config's model (strictly, as
    :func:`load_model` does) and probed under its data preprocessor's
    normalisation. The correspondence probe needs no labels; it runs on the
    toy benchmark's ``val`` images (``toy_root``) when they exist.

    Args:
        config (str): The pretraining config of the checkpoints.
        checkpoints (Sequence[str]): Pretraining checkpoints.
        data (str): An mmseg dataset config file or a data folder (see
            :func:`~dense_contrast.evaluation.split_configs`).
        data_root (str, optional): Replaces the ``data_root`` of a config
            file. Defaults to None.
        num_train (int, optional): Training images the probes fit on.
            Defaults to 500 (None: all).
        num_val (int, optional): Validation images scored. Defaults to 200
            (None: all).
        crop_size (int): Side of the images of an mmseg dataset (shorter
            side resized, centre crop). Defaults to 224.
        num_classes (int, optional): Classes; defaults to the dataset's
            metainfo (or the toy scenes' meta.json).
        stage (int, optional): Backbone stage (``out_indices`` index).
            Defaults to None (the last).
        probes (Sequence[dict]): Probe configs. Defaults to
            :data:`DEFAULT_EVAL_PROBES`.
        batch_size (int): Images per forward. Defaults to 32.
        toy_root (str, optional): Toy scenes folder for the correspondence
            probe; None or a missing folder skips it. Defaults to
            'data/toyscenes'.
        num_corr (int): View pairs of the correspondence probe. Defaults
            to 100.
        corr_size (int): Side the toy images are read at for it. Defaults
            to 256.

    Returns:
        dict: ``rows`` (one per checkpoint: ``checkpoint``, ``scores``,
        ``seconds``), the settings, and ``skipped`` (why a probe did not
        run, if one did not).
    """
    datasets = split_configs(data, data_root)
    suite_args: Dict[str, Any] = dict(
        probes=list(probes), num_train=num_train, num_val=num_val,
        num_classes=num_classes, stage=stage, batch_size=batch_size)
    if datasets is None:
        suite = DenseProbeSuite(data, **suite_args)
    else:
        suite = DenseProbeSuite(train_dataset=datasets[0],
                                val_dataset=datasets[1], crop_size=crop_size,
                                **suite_args)
    corr_images = None
    skipped = {}
    if toy_root and osp.isdir(osp.join(toy_root, 'val', 'images')):
        corr_images = load_segmentation_split(toy_root, 'val')[0]
        corr_images = corr_images[:num_corr]  # the pairs cycle over them
    else:
        skipped['corr'] = (f'no toy scenes val split under {toy_root!r} '
                           '(python tools/generate_toyscenes.py)')
    corr_probe = DenseCorrespondenceProbe(num_pairs=num_corr,
                                          view_size=corr_size)
    rows = []
    for checkpoint in checkpoints:
        start = time.perf_counter()
        model = load_model(config, checkpoint)
        scores = suite.score_model(model)
        if corr_images is not None:
            backbone, mean, std, bgr = model_inputs(model)
            order = [2, 1, 0] if bgr else [0, 1, 2]
            scores.update(
                corr_probe(backbone, corr_images[:, order], mean, std,
                           stage=stage, batch_size=batch_size))
        rows.append(dict(checkpoint=checkpoint, scores=scores,
                         seconds=time.perf_counter() - start))
        del model
    return dict(
        config=config, data=data, data_root=data_root, num_train=num_train,
        num_val=num_val, crop_size=crop_size, stage=stage,
        num_classes=suite.num_classes, probes=list(probes),
        toy_root=toy_root, torch_threads=torch.get_num_threads(),
        rows=rows, skipped=skipped)


def report_markdown(report: Dict[str, Any]) -> str:
    """The table of a report as markdown.

    Args:
        report (dict): What :func:`evaluate_checkpoints` returns.

    Returns:
        str: A heading line, the settings and one row per checkpoint
        (scores in percent, two decimals).
    """
    keys: List[str] = [c for c in COLUMNS
                       if any(c in r['scores'] for r in report['rows'])]
    for row in report['rows']:
        keys += [k for k in row['scores'] if k not in keys]
    lines = [
        f"Dense evaluation of {report['config']} on {report['data']} "
        f"({report['num_train']} fitting / {report['num_val']} scored "
        f"images at {report['crop_size']} px, {report['num_classes']} "
        f"classes, stage {report['stage']})",
        '',
        '| checkpoint | ' + ' | '.join(keys) + ' | seconds |',
        '| --- | ' + ' | '.join('---:' for _ in keys) + ' | ---: |',
    ]
    for row in report['rows']:
        cells = [f"{row['scores'][k]:.2f}" if k in row['scores'] else '-'
                 for k in keys]
        lines.append(f"| {row['checkpoint']} | " + ' | '.join(cells) +
                     f" | {row['seconds']:.0f} |")
    for probe, why in report.get('skipped', {}).items():
        lines.append(f'\n{probe}: skipped, {why}')
    return '\n'.join(lines) + '\n'


def write_report(report: Dict[str, Any], out_dir: str) -> List[str]:
    """Write ``dense_eval.json`` and ``dense_eval.md`` into ``out_dir``.

    Args:
        report (dict): What :func:`evaluate_checkpoints` returns.
        out_dir (str): Output folder (created).

    Returns:
        list[str]: The two paths.
    """
    os.makedirs(out_dir, exist_ok=True)
    json_path = osp.join(out_dir, 'dense_eval.json')
    md_path = osp.join(out_dir, 'dense_eval.md')
    with open(json_path, 'w') as f:
        json.dump(report, f, indent=2)
    with open(md_path, 'w') as f:
        f.write(report_markdown(report))
    return [json_path, md_path]
