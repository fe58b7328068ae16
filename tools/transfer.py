"""Pretrain (optionally), extract, fine-tune downstream, tabulate: one command.

Examples::

    # From a pretraining checkpoint, to the toy Mask R-CNN and FCN, against
    # random initialisation:
    python tools/transfer.py work_dirs/my_run/epoch_8.pth \\
        --downstream configs/benchmarks/mmdetection/mask-rcnn_r18_fpn_1xb8-2e_toyscenes.py \\
                     configs/benchmarks/mmsegmentation/fcn_r18-d8_1xb8-100i_toyscenes-128x128.py \\
        --random-init --work-dir work_dirs/transfer_my_run

    # From a pretraining config (pretrains first, resuming an unfinished
    # run), with an mmpretrain MoCo v2 baseline pretrained on the same data,
    # three seeds, 8 GPUs per run:
    python tools/transfer.py configs/densecl/densecl_resnet18_1xb32-coslr-8e_toyscenes.py \\
        --mocov2 configs/mocov2/mocov2_resnet18_1xb32-coslr-8e_toyscenes.py \\
        --downstream CFG [CFG ...] --seeds 0 1 2 --gpus 8

Pretraining runs are subprocesses of this repository's ``tools/train.py``
(``tools/dist_train.sh`` with ``--gpus`` > 1); downstream runs go through
the training script of the config's own package (mmdet's, mmseg's or
mmpretrain's ``tools/train.py``, under torchrun with ``--gpus`` > 1), i.e.
the downstream config's own mmengine Runner. Its numbers are read from the evaluator's own output
(the Runner's ``vis_data/scalars.json``), never recomputed here. A finished
run leaves ``result.json`` in its folder and is skipped when the command is
run again with the same resolved config and initial weights (a change to
either runs it again); an unfinished pretraining run is resumed.

Outputs under ``--work-dir``: ``weights/<init>_backbone.pth`` (extracted
backbones), ``<init>/<config name>/seed<k>/`` (one Runner work dir per run),
``results.json`` and ``results.md``.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from dense_contrast.datasets import ensure_toyscenes  # noqa: E402
from dense_contrast.utils.extract import (extract_backbone_weights,  # noqa: E402
                                          load_checkpoint_safely, sha256sum)

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
DIST_TRAIN = osp.join(REPO_ROOT, 'tools', 'dist_train.sh')
RESULT_FILE = 'result.json'

#: Metric name endings shown in the Markdown table (JSON keeps everything).
TABLE_METRICS = ('mAP', 'mAP_50', 'mAP_75', 'AP', 'AP50', 'AP75', 'mIoU',
                 'mAcc', 'aAcc', 'accuracy/top1')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Extract a pretrained backbone, fine-tune it with '
        'downstream configs (and from random init / a MoCo v2 baseline), '
        'write a results table.')
    parser.add_argument(
        'pretrain',
        help='pretraining checkpoint (.pth) or pretraining config (.py, '
        'pretrained first)')
    parser.add_argument(
        '--downstream',
        nargs='+',
        required=True,
        help='downstream configs (mmdet / mmseg / mmpretrain)')
    parser.add_argument(
        '--work-dir', required=True, help='folder for all outputs')
    parser.add_argument(
        '--name',
        help='label of the pretrained weights in the table (default: the '
        'algorithm recorded in the checkpoint, lower case)')
    parser.add_argument(
        '--random-init',
        action='store_true',
        help='also fine-tune from random initialisation')
    parser.add_argument(
        '--mocov2',
        help='also fine-tune from this MoCo v2 checkpoint or config '
        '(pretrained first, on the data its config names)')
    parser.add_argument(
        '--seeds', nargs='+', type=int, default=[0], help='downstream seeds')
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='processes per run; > 1 goes through tools/dist_train.sh')
    parser.add_argument(
        '--pretrain-work-dir',
        help='work dir of the pretraining run when PRETRAIN is a config '
        '(default: WORK_DIR/pretrain_<config name>)')
    parser.add_argument(
        '--pretrain-cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides for pretraining runs, key=value')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides for every downstream run, key=value')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    for path in [args.pretrain, args.mocov2, *args.downstream]:
        if path is not None and not osp.isfile(path):
            parser.error(f'no such file: {path}')
    return args


def _format_options(options: Dict[str, object]) -> List[str]:
    """Turn ``{key: value}`` into ``key=value`` words for ``--cfg-options``.

    Values are written with ``repr`` so that ``DictAction`` parses them
    back to the same Python value (``None``, numbers, strings, lists).
    """
    words = []
    for key, value in options.items():
        text = value if isinstance(value, str) else repr(value)
        if isinstance(value, (list, tuple)):
            text = repr(list(value)).replace(' ', '')
        words.append(f'{key}={text}')
    return words


def _train_command(config: str, work_dir: str, gpus: int,
                   options: Dict[str, object], resume: bool) -> List[str]:
    """Command line of one Runner job (train.py or dist_train.sh)."""
    if gpus > 1:
        cmd = ['bash', DIST_TRAIN, config, str(gpus)]
    else:
        cmd = [sys.executable, TRAIN, config]
    cmd += ['--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    if options:
        cmd += ['--cfg-options', *_format_options(options)]
    return cmd


def _package_train_script(cfg: Config) -> str:
    """The ``tools/train.py`` of the package that owns a downstream config.

    mmdet, mmseg and mmpretrain install their own training entry point
    (``<package>/.mim/tools/train.py``); running it keeps the downstream
    config under that package's own Runner set-up. Configs in this
    project's scope use this repository's ``tools/train.py``.
    """
    scope = cfg.get('default_scope', 'dense_contrast')
    if scope == 'dense_contrast':
        return TRAIN
    try:
        package = __import__(scope)
    except ImportError as err:
        raise SystemExit(f'error: {cfg.filename} needs the {scope!r} '
                         f'package ({err})') from err
    script = osp.join(osp.dirname(package.__file__), '.mim', 'tools',
                      'train.py')
    if not osp.isfile(script):
        raise SystemExit(f'error: {scope} has no training script at {script}')
    return script


def _downstream_command(config: str, cfg: Config, work_dir: str, gpus: int,
                        options: Dict[str, object]) -> List[str]:
    """Command line of one downstream run through its package's script."""
    script = _package_train_script(cfg)
    if gpus > 1:
        cmd = [
            sys.executable, '-m', 'torch.distributed.run',
            f'--nproc_per_node={gpus}',
            f'--master_port={os.environ.get("PORT", "29500")}', script,
            config, '--launcher', 'pytorch'
        ]
    else:
        cmd = [sys.executable, script, config]
    cmd += ['--work-dir', work_dir]
    if options:
        cmd += ['--cfg-options', *_format_options(options)]
    return cmd


def _run_logged(cmd: List[str], log_path: str, what: str) -> float:
    """Run a job with its output in ``log_path``; fail with its tail.

    Returns:
        float: Seconds taken.
    """
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(),
            env=env)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-30:])
        raise SystemExit(f'error: {what} failed (exit {proc.returncode}); '
                         f'command: {" ".join(cmd)}\nlast lines of '
                         f'{log_path}:\n{tail}')
    return time.time() - start


def pretrain(config: str, work_dir: str, gpus: int,
             options: Dict[str, object]) -> str:
    """Pretrain from a config (resuming an unfinished run).

    Returns:
        str: The last checkpoint written.
    """
    print(f'[pretrain] {config} -> {work_dir} (log: {work_dir}/'
          'transfer_stdout.log)', flush=True)
    seconds = _run_logged(
        _train_command(config, work_dir, gpus, options, resume=True),
        osp.join(work_dir, 'transfer_stdout.log'), f'pretraining {config}')
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise SystemExit(f'error: pretraining {config} wrote no '
                         f'{pointer}')
    with open(pointer) as f:
        checkpoint = f.read().strip()
    print(f'[pretrain] done in {seconds / 60:.1f} min: {checkpoint}',
          flush=True)
    return checkpoint


def extract(checkpoint: str, out_path: str) -> Tuple[str, dict]:
    """Extract the backbone unless ``out_path`` already holds it.

    Returns:
        tuple[str, dict]: The output's sha256 and its ``meta``.
    """
    source_sha = sha256sum(checkpoint)
    if osp.isfile(out_path):
        meta = load_checkpoint_safely(out_path).get('meta', {})
        if meta.get('source_sha256') == source_sha:
            return sha256sum(out_path), meta
    meta = extract_backbone_weights(checkpoint, out_path)['meta']
    return sha256sum(out_path), meta


def pretrained_init_paths(cfg: Config) -> List[str]:
    """Dotted config paths of every ``init_cfg`` of type ``Pretrained``.

    E.g. ``['model.backbone.init_cfg']`` for Mask R-CNN and also
    ``'model.roi_head.shared_head.init_cfg'`` for the C4 detector, whose
    res5 lives in the RoI head.

    Args:
        cfg (Config): A downstream config.

    Returns:
        list[str]: The paths, in config order.

    Raises:
        ValueError: If the model has none (nothing would load the weights).
    """

    def walk(node: object, path: str) -> Iterator[str]:
        if isinstance(node, dict):
            init = node.get('init_cfg')
            if isinstance(init, dict) and init.get('type') == 'Pretrained':
                yield f'{path}.init_cfg'
            for key, value in node.items():
                if key != 'init_cfg':
                    yield from walk(value, f'{path}.{key}')

    paths = list(walk(cfg.model, 'model'))
    if not paths:
        raise ValueError(f'{cfg.filename}: no init_cfg of type "Pretrained" '
                         'in the model: add model.backbone.init_cfg='
                         "dict(type='Pretrained', checkpoint=...)")
    return paths


def ensure_toy_data(cfg: Config, options: Dict[str, object]) -> None:
    """Generate the embedded toy scenes when a config reads them."""
    roots = set()
    for loader in ('train_dataloader', 'val_dataloader'):
        key = f'{loader}.dataset.data_root'
        root = options.get(key, cfg.get(loader, {}).get('dataset', {}).get(
            'data_root'))
        if isinstance(root, str) and osp.basename(
                osp.normpath(root)) == 'toyscenes':
            roots.add(root)
    for root in sorted(roots):
        ensure_toyscenes(root)


def read_metrics(run_dir: str) -> Tuple[Dict[str, float], str]:
    """Read the last evaluation of a Runner from its own scalar log.

    Args:
        run_dir (str): The Runner's work dir.

    Returns:
        tuple[dict, str]: The metrics of the last line of
        ``<run_dir>/<timestamp>/vis_data/scalars.json`` that has no
        training loss (the validation line), and that file's path.

    Raises:
        SystemExit: If no evaluation was logged.
    """
    candidates = sorted(
        osp.join(run_dir, d, 'vis_data', 'scalars.json')
        for d in os.listdir(run_dir)
        if osp.isfile(osp.join(run_dir, d, 'vis_data', 'scalars.json')))
    for path in reversed(candidates):
        evaluations = []
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'lr' not in record and not any(
                        k.startswith('loss') for k in record):
                    evaluations.append(record)
        if evaluations:
            metrics = {
                k: float(v)
                for k, v in evaluations[-1].items()
                if k not in ('step', 'time', 'data_time', 'epoch', 'iter')
            }
            return metrics, path
    raise SystemExit(f'error: no evaluation found in {candidates} of '
                     f'{run_dir}: did the config evaluate (val_interval)?')


def run_fingerprint(cfg: Config, options: Dict[str, object],
                    weights_sha: Optional[str]) -> str:
    """Hash of what decides a downstream run's result.

    The resolved config (the file with everything it inherits, merged with
    the run's options) and the initial weights' sha256: a finished run is
    reused only while both are unchanged.

    Args:
        cfg (Config): The downstream config as loaded from its file.
        options (dict): The run's ``--cfg-options`` (seed and weights path
            included).
        weights_sha (str, optional): sha256 of the initial backbone file,
            None for random init.

    Returns:
        str: A sha256 hex digest.
    """
    resolved = Config(cfg.to_dict())
    resolved.merge_from_dict(options)
    payload = json.dumps(
        dict(config=resolved.to_dict(), weights_sha256=weights_sha),
        sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()


def finetune(config: str, init: str, weights: Optional[str],
             weights_sha: Optional[str], seed: int, run_dir: str, gpus: int,
             options: Dict[str, object]) -> Tuple[dict, bool]:
    """Fine-tune one downstream config from one initialisation and seed.

    Returns:
        tuple[dict, bool]: The result record and whether it was reused.
    """
    cfg = Config.fromfile(config)
    run_options = dict(options)
    run_options['randomness.seed'] = seed
    for path in pretrained_init_paths(cfg):
        if weights is None:
            run_options[path] = None
        else:
            run_options[f'{path}.checkpoint'] = osp.abspath(weights)
    fingerprint = run_fingerprint(cfg, run_options, weights_sha)
    result_path = osp.join(run_dir, RESULT_FILE)
    if osp.isfile(result_path):
        with open(result_path) as f:
            record = json.load(f)
        if record.get('run_fingerprint') == fingerprint:
            return record, True
        # The config, its options or the weights changed since that run:
        # start over in an empty folder, so that its logs cannot be read
        # as the new run's.
        print(f'[transfer] {run_dir}: config, options or weights changed '
              'since the finished run; running again', flush=True)
        shutil.rmtree(run_dir)
    ensure_toy_data(cfg, run_options)
    seconds = _run_logged(
        _downstream_command(config, cfg, run_dir, gpus, run_options),
        osp.join(run_dir, 'transfer_stdout.log'),
        f'{init} -> {config} (seed {seed})')
    metrics, source = read_metrics(run_dir)
    record = dict(
        config=osp.relpath(config),
        init=init,
        checkpoint=None if weights is None else osp.relpath(weights),
        checkpoint_sha256=weights_sha,
        seed=seed,
        metrics=metrics,
        metrics_source=osp.relpath(source),
        minutes=round(seconds / 60, 2),
        run_fingerprint=fingerprint)
    with open(result_path, 'w') as f:
        json.dump(record, f, indent=2)
    return record, False


def _shown_metrics(records: Sequence[dict]) -> List[str]:
    names = []
    for record in records:
        for name in record['metrics']:
            short = name.split('/')[-1]  # coco/bbox_mAP -> bbox_mAP -> mAP
            if short.startswith(('bbox_', 'segm_')):
                short = short.split('_', 1)[1]
            if short in TABLE_METRICS or name in TABLE_METRICS:
                if name not in names:
                    names.append(name)
    return names


def markdown_table(records: Sequence[dict]) -> str:
    """One table per downstream config: metrics by initialisation and seed.

    Args:
        records (list[dict]): Result records of :func:`finetune`.

    Returns:
        str: Markdown text.
    """
    lines = []
    configs = list(dict.fromkeys(r['config'] for r in records))
    for config in configs:
        rows = [r for r in records if r['config'] == config]
        columns = [(r['init'], r['seed']) for r in rows]
        lines += [f'**{config}**', '']
        lines.append('| metric | ' + ' | '.join(
            f'{init} (seed {seed})' for init, seed in columns) + ' |')
        lines.append('| --- |' + ' ---: |' * len(columns))
        for name in _shown_metrics(rows):
            values = [r['metrics'].get(name) for r in rows]
            lines.append(f'| {name} | ' + ' | '.join(
                '-' if v is None else f'{v:.4g}' for v in values) + ' |')
        lines.append('')
    inits = list(dict.fromkeys((r['init'], r['checkpoint'],
                                r['checkpoint_sha256']) for r in records))
    lines += ['| init | checkpoint | sha256 |', '| --- | --- | --- |']
    for init, checkpoint, sha in inits:
        lines.append(f'| {init} | {checkpoint or "-"} | '
                     f'{sha[:16] + "..." if sha else "-"} |')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> int:
    """Run the chain; print the table.

    Returns:
        int: 0 on success.
    """
    args = parse_args(argv)
    work_dir = args.work_dir
    os.makedirs(work_dir, exist_ok=True)
    weights_dir = osp.join(work_dir, 'weights')

    def resolve(source: str, default_dir: str) -> str:
        if source.endswith('.py'):
            return pretrain(source, default_dir, args.gpus,
                            args.pretrain_cfg_options)
        return source

    main_dir = args.pretrain_work_dir or osp.join(
        work_dir,
        'pretrain_' + osp.splitext(osp.basename(args.pretrain))[0])
    checkpoint = resolve(args.pretrain, main_dir)
    sha, meta = extract(checkpoint, osp.join(weights_dir, 'main_backbone.pth'))
    name = args.name or str(meta.get('algorithm', 'pretrained')).lower()
    inits: List[Tuple[str, Optional[str], Optional[str]]] = [
        (name, osp.join(weights_dir, 'main_backbone.pth'), sha)
    ]
    if args.mocov2:
        moco_dir = osp.join(
            work_dir,
            'pretrain_' + osp.splitext(osp.basename(args.mocov2))[0])
        moco_ckpt = resolve(args.mocov2, moco_dir)
        moco_path = osp.join(weights_dir, 'mocov2_backbone.pth')
        inits.append(('mocov2', moco_path, extract(moco_ckpt, moco_path)[0]))
    if args.random_init:
        inits.append(('random', None, None))

    jobs = [(config, init, seed) for config in args.downstream
            for init in inits for seed in args.seeds]
    records = []
    for index, (config, (init, weights, weights_sha), seed) in enumerate(
            jobs, 1):
        config_name = osp.splitext(osp.basename(config))[0]
        run_dir = osp.join(work_dir, init, config_name, f'seed{seed}')
        print(f'[{index}/{len(jobs)}] {init} -> {config_name}, seed {seed} '
              f'(log: {run_dir}/transfer_stdout.log)', flush=True)
        record, reused = finetune(config, init, weights, weights_sha, seed,
                                  run_dir, args.gpus, args.cfg_options)
        records.append(record)
        shown = {k: record['metrics'][k] for k in _shown_metrics([record])}
        status = 'finished earlier' if reused else (
            f'done in {record["minutes"]:.1f} min')
        print(f'[{index}/{len(jobs)}] {status}: {shown}', flush=True)

    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(records, f, indent=2)
    table = markdown_table(records)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table)
    print()
    print(table)
    print(f'Written: {osp.join(work_dir, "results.md")} and results.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
