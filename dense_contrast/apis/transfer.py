"""Pretrain (optionally), extract, fine-tune downstream, tabulate.

Pretraining runs are subprocesses of this repository's ``tools/train.py``
(``tools/dist_train.sh`` with ``gpus`` > 1); downstream runs go through the
training script of the config's own package (mmdet's, mmseg's or
mmpretrain's ``tools/train.py``, under torchrun with ``gpus`` > 1), i.e.
the downstream config's own mmengine Runner (see :mod:`.runner`). Its
numbers are read from the evaluator's own output (the Runner's
``vis_data/scalars.json``), never recomputed here. A finished run leaves
``result.json`` in its folder and is skipped when asked again with the same
resolved config and initial weights (a change to either runs it again); an
unfinished pretraining run is resumed. With ``test``, each fine-tune's last
checkpoint is also scored on the config's test split by the package's
``tools/test.py`` (in ``<run dir>/test``), once.

Outputs of :func:`run_transfer` under its ``work_dir``:
``weights/<init>_backbone.pth`` (extracted backbones),
``<init>/<config name>/seed<k>/`` (one Runner work dir per run),
``results.json`` and ``results.md``.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from dense_contrast.datasets import ensure_toyscenes
from dense_contrast.utils.extract import (extract_backbone_weights,
                                          load_checkpoint_safely, sha256sum)
from .runner import (RunError, downstream_command, last_checkpoint,
                     run_logged, scalar_logs, train_command)

RESULT_FILE = 'result.json'

#: Options of a fine-tune that will be tested: its checkpoints are written
#: by ``SafeCheckpointHook`` so that the package's ``tools/test.py`` loads
#: them under ``torch.load``'s ``weights_only=True`` (the hook, built in the
#: test process too, allowlists what they hold).
TESTABLE_CHECKPOINT_OPTIONS = {
    'default_hooks.safe_checkpoint.type': 'dense_contrast.SafeCheckpointHook'
}

#: Metric name endings shown in the Markdown table (JSON keeps everything).
TABLE_METRICS = ('mAP', 'mAP_50', 'mAP_75', 'AP', 'AP50', 'AP75', 'mIoU',
                 'mAcc', 'aAcc', 'accuracy/top1')

#: Record key of each split's metrics.
SPLIT_KEYS = {'val': 'metrics', 'test': 'test_metrics'}

#: The initialisation the table's difference columns compare with.
BASELINE = 'random'


def pretrain(config: str,
             work_dir: str,
             gpus: int = 1,
             options: Optional[Dict[str, object]] = None) -> str:
    """Pretrain from a config (resuming an unfinished run).

    The job's output goes to ``<work_dir>/transfer_stdout.log``.

    Args:
        config (str): The pretraining config.
        work_dir (str): The Runner's work dir.
        gpus (int): Processes. Defaults to 1.
        options (dict, optional): ``--cfg-options`` of the job. Defaults to
            None.

    Returns:
        str: The last checkpoint written.

    Raises:
        RunError: If the job fails or names no last checkpoint.
    """
    print(f'[pretrain] {config} -> {work_dir} (log: {work_dir}/'
          'transfer_stdout.log)', flush=True)
    seconds = run_logged(
        train_command(config, work_dir, gpus, options, resume=True),
        osp.join(work_dir, 'transfer_stdout.log'), f'pretraining {config}')
    checkpoint = last_checkpoint(work_dir)
    if checkpoint is None:
        raise RunError(f'pretraining {config} wrote no '
                       f'{osp.join(work_dir, "last_checkpoint")}')
    print(f'[pretrain] done in {seconds / 60:.1f} min: {checkpoint}',
          flush=True)
    return checkpoint


def extract(checkpoint: str, out_path: str) -> Tuple[str, dict]:
    """Extract the backbone unless ``out_path`` already holds it.

    Args:
        checkpoint (str): A pretraining checkpoint.
        out_path (str): The backbone file to write.

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


def ensure_toy_data(cfg: Config,
                    options: Dict[str, object],
                    loaders: Sequence[str] = ('train_dataloader',
                                              'val_dataloader')) -> None:
    """Generate the embedded toy scenes when a config reads them.

    Args:
        cfg (Config): A downstream config.
        options (dict): The run's overrides (they win over the config's
            ``data_root``).
        loaders (list[str]): The data loaders whose ``dataset.data_root``
            is checked. Defaults to the training and validation ones.
    """
    roots = set()
    for loader in loaders:
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
        RunError: If no evaluation was logged.
    """
    candidates = scalar_logs(run_dir)
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
    raise RunError(f'no evaluation found in {candidates} of {run_dir}: did '
                   'the config evaluate (val_interval)?')


def read_test_metrics(test_dir: str) -> Tuple[Dict[str, float], str]:
    """Read the metrics of a test step from the Runner's own json log.

    mmengine's ``LoggerHook`` writes them, after the test epoch, to
    ``<test_dir>/<timestamp>/<timestamp>.json`` (one dict).

    Args:
        test_dir (str): The test Runner's work dir.

    Returns:
        tuple[dict, str]: The numeric metrics of the newest such file, and
        its path.

    Raises:
        RunError: If there is none.
    """
    stamps = sorted(d for d in os.listdir(test_dir)
                    if osp.isfile(osp.join(test_dir, d, f'{d}.json')))
    if not stamps:
        raise RunError(f'no test log <timestamp>/<timestamp>.json in '
                       f'{test_dir}')
    path = osp.join(test_dir, stamps[-1], f'{stamps[-1]}.json')
    with open(path) as f:
        logged = json.load(f)
    metrics = {
        k: float(v)
        for k, v in logged.items()
        if isinstance(v, (int, float)) and k not in ('time', 'data_time',
                                                      'step')
    }
    return metrics, path


def run_test(config: str, cfg: Config, run_dir: str, gpus: int,
             options: Dict[str, object], what: str) -> Tuple[dict, str]:
    """Score a finished fine-tune on the config's test split.

    Runs the package's ``tools/test.py`` on the run's last checkpoint, in
    ``<run_dir>/test``, with the run's options.

    Args:
        config (str): The downstream config.
        cfg (Config): The same, loaded.
        run_dir (str): The finished training run's work dir.
        gpus (int): Processes.
        options (dict): The run's ``--cfg-options``.
        what (str): Description for error messages.

    Returns:
        tuple[dict, str]: The test metrics and the log they came from.

    Raises:
        RunError: If the run saved no checkpoint, the test step fails or
            it logged no metrics.
    """
    checkpoint = last_checkpoint(run_dir)
    if checkpoint is None:
        raise RunError(f'{run_dir} has no last_checkpoint to test: did the '
                       'config save one (default_hooks.checkpoint)?')
    ensure_toy_data(cfg, options, ('test_dataloader', ))
    test_dir = osp.join(run_dir, 'test')
    if osp.isdir(test_dir):
        shutil.rmtree(test_dir)
    run_logged(
        downstream_command(config, cfg, test_dir, gpus, options,
                           checkpoint=checkpoint),
        osp.join(run_dir, 'test_stdout.log'), f'testing {what}')
    return read_test_metrics(test_dir)


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


def finetune(config: str,
             init: str,
             weights: Optional[str],
             weights_sha: Optional[str],
             seed: int,
             run_dir: str,
             gpus: int = 1,
             options: Optional[Dict[str, object]] = None,
             test: bool = False) -> Tuple[dict, bool]:
    """Fine-tune one downstream config from one initialisation and seed.

    Every ``Pretrained`` init_cfg of the model is pointed at ``weights``
    (or removed for random init); a finished run with the same fingerprint
    (:func:`run_fingerprint`) is reused, a stale one is deleted and run
    again.

    Args:
        config (str): The downstream config.
        init (str): Label of the initialisation (the table's column).
        weights (str, optional): The backbone file, None for random init.
        weights_sha (str, optional): Its sha256, None for random init.
        seed (int): The run's ``randomness.seed``.
        run_dir (str): The Runner's work dir.
        gpus (int): Processes. Defaults to 1.
        options (dict, optional): Overrides of the run. Defaults to None.
        test (bool): Also score the last checkpoint on the config's test
            split (:func:`run_test`), into the record's ``test_metrics``.
            The validation metrics (``metrics``) are the ones to make
            choices on. The run then saves its checkpoints through
            ``SafeCheckpointHook`` (:data:`TESTABLE_CHECKPOINT_OPTIONS`, part
            of the fingerprint: a run finished without ``test`` runs again).
            Defaults to False.

    Returns:
        tuple[dict, bool]: The result record and whether its training run
        was reused (a reused run whose test step is missing, e.g. failed,
        gets it now).

    Raises:
        RunError: If the run fails or logged no evaluation.
        ValueError: If the config has no ``Pretrained`` init_cfg.
    """
    cfg = Config.fromfile(config)
    run_options = dict(options or {})
    if test:
        run_options.update(TESTABLE_CHECKPOINT_OPTIONS)
    run_options['randomness.seed'] = seed
    for path in pretrained_init_paths(cfg):
        if weights is None:
            run_options[path] = None
        else:
            run_options[f'{path}.checkpoint'] = osp.abspath(weights)
    fingerprint = run_fingerprint(cfg, run_options, weights_sha)
    what = f'{init} -> {config} (seed {seed})'
    result_path = osp.join(run_dir, RESULT_FILE)
    record = None
    if osp.isfile(result_path):
        with open(result_path) as f:
            record = json.load(f)
        if record.get('run_fingerprint') != fingerprint:
            # The config, its options or the weights changed since that
            # run: start over in an empty folder, so that its logs cannot
            # be read as the new run's.
            print(f'[transfer] {run_dir}: config, options or weights '
                  'changed since the finished run; running again',
                  flush=True)
            shutil.rmtree(run_dir)
            record = None
    reused = record is not None
    if record is None:
        ensure_toy_data(cfg, run_options)
        seconds = run_logged(
            downstream_command(config, cfg, run_dir, gpus, run_options),
            osp.join(run_dir, 'transfer_stdout.log'), what)
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
        _write_json(record, result_path)
    if test and 'test_metrics' not in record:
        record['test_metrics'], source = run_test(config, cfg, run_dir, gpus,
                                                  run_options, what)
        record['test_metrics_source'] = osp.relpath(source)
        _write_json(record, result_path)
    return record, reused


def _write_json(data: object, path: str) -> None:
    """Write ``data`` as indented json.

    Args:
        data (object): Anything ``json.dump`` takes.
        path (str): The file.
    """
    with open(path, 'w') as f:
        json.dump(data, f, indent=2)


def shown_metrics(records: Sequence[dict]) -> List[str]:
    """Names of the metrics the table shows (:data:`TABLE_METRICS`).

    Args:
        records (list[dict]): Result records of :func:`finetune`.

    Returns:
        list[str]: Metric names, in order of first appearance.
    """
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


def mean_difference(records: Sequence[dict], init: str, baseline: str,
                    name: str) -> Optional[float]:
    """Mean over seeds of one init's metric minus the baseline's.

    Only the seeds that both have (with the metric) count: each seed's
    difference is taken first, then they are averaged.

    Args:
        records (list[dict]): Result records of :func:`finetune` of one
            downstream config (``init``, ``seed`` and ``metrics`` are read).
        init (str): The initialisation compared.
        baseline (str): The one it is compared with, e.g. ``'random'``.
        name (str): The metric.

    Returns:
        float, optional: The mean difference, None when the two share no
        seed with that metric.
    """
    values = {(r['init'], r['seed']): r['metrics'].get(name)
              for r in records}
    diffs = [
        value - values[(baseline, seed)]
        for (label, seed), value in values.items()
        if label == init and value is not None
        and values.get((baseline, seed)) is not None
    ]
    return sum(diffs) / len(diffs) if diffs else None


def markdown_table(records: Sequence[dict], split: str = 'val') -> str:
    """One table per downstream config: metrics by initialisation and seed.

    When a config was also fine-tuned from random initialisation
    (:data:`BASELINE`), one more column per other initialisation gives its
    difference to random (:func:`mean_difference`).

    Args:
        records (list[dict]): Result records of :func:`finetune`.
        split (str): 'val' (``metrics``) or 'test' (``test_metrics``;
            records without them are left out). Defaults to 'val'.

    Returns:
        str: Markdown text.

    Raises:
        ValueError: If ``split`` is neither.
    """
    if split not in SPLIT_KEYS:
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    key = SPLIT_KEYS[split]
    records = [dict(r, metrics=r[key]) for r in records if key in r]
    lines = []
    for config in dict.fromkeys(r['config'] for r in records):
        rows = [r for r in records if r['config'] == config]
        inits = list(dict.fromkeys(r['init'] for r in rows))
        compared = [i for i in inits
                    if i != BASELINE] if BASELINE in inits else []
        header = [f'{r["init"]} (seed {r["seed"]})' for r in rows]
        header += [f'{init} - {BASELINE}' for init in compared]
        lines += [
            f'**{config}** ({split} split)', '',
            '| metric | ' + ' | '.join(header) + ' |',
            '| --- |' + ' ---: |' * len(header)
        ]
        for name in shown_metrics(rows):
            cells = [_cell(r['metrics'].get(name), '.4g') for r in rows]
            cells += [
                _cell(mean_difference(rows, init, BASELINE, name), '+.4g')
                for init in compared
            ]
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    inits = list(dict.fromkeys((r['init'], r['checkpoint'],
                                r['checkpoint_sha256']) for r in records))
    lines += ['| init | checkpoint | sha256 |', '| --- | --- | --- |']
    for init, checkpoint, sha in inits:
        lines.append(f'| {init} | {checkpoint or "-"} | '
                     f'{sha[:16] + "..." if sha else "-"} |')
    return '\n'.join(lines) + '\n'


def _cell(value: Optional[float], spec: str) -> str:
    """A table cell: ``value`` formatted with ``spec``, '-' for None.

    Args:
        value (float, optional): The number.
        spec (str): A format spec, e.g. ``'.4g'``.

    Returns:
        str: The cell text.
    """
    return '-' if value is None else format(value, spec)


def _pretrain_dir(work_dir: str, source: str) -> str:
    """Default work dir of a pretraining run of the chain.

    Args:
        work_dir (str): The chain's folder.
        source (str): The pretraining config.

    Returns:
        str: ``<work_dir>/pretrain_<config name>``.
    """
    return osp.join(work_dir,
                    'pretrain_' + osp.splitext(osp.basename(source))[0])


def run_transfer(pretrain_source: str,
                 downstream: Sequence[str],
                 work_dir: str,
                 name: Optional[str] = None,
                 random_init: bool = False,
                 mocov2: Optional[str] = None,
                 seeds: Sequence[int] = (0, ),
                 gpus: int = 1,
                 pretrain_work_dir: Optional[str] = None,
                 pretrain_cfg_options: Optional[Dict[str, object]] = None,
                 cfg_options: Optional[Dict[str, object]] = None,
                 test: bool = False) -> List[dict]:
    """The whole chain: pretrain, extract, fine-tune, write the table.

    Progress and the table are printed; ``results.json`` and
    ``results.md`` are written under ``work_dir``.

    Args:
        pretrain_source (str): A pretraining checkpoint (.pth), or a
            pretraining config (.py), pretrained first.
        downstream (list[str]): Downstream configs (mmdet / mmseg /
            mmpretrain).
        work_dir (str): Folder for all outputs.
        name (str, optional): Label of the pretrained weights in the table.
            Defaults to None: the algorithm recorded in the checkpoint,
            lower case.
        random_init (bool): Also fine-tune from random initialisation.
            Defaults to False.
        mocov2 (str, optional): Also fine-tune from this MoCo v2 checkpoint
            or config (pretrained first). Defaults to None.
        seeds (list[int]): Downstream seeds. Defaults to (0, ).
        gpus (int): Processes per run. Defaults to 1.
        pretrain_work_dir (str, optional): Work dir of the pretraining run
            when ``pretrain_source`` is a config. Defaults to None:
            ``<work_dir>/pretrain_<config name>``.
        pretrain_cfg_options (dict, optional): Overrides for pretraining
            runs. Defaults to None.
        cfg_options (dict, optional): Overrides for every downstream run.
            Defaults to None.
        test (bool): Also score every fine-tune on its config's test split;
            the table then shows the test metrics. Defaults to False.

    Returns:
        list[dict]: The result records of :func:`finetune`, in run order.

    Raises:
        RunError: If a run fails.
    """
    os.makedirs(work_dir, exist_ok=True)
    weights_dir = osp.join(work_dir, 'weights')

    def resolve(source: str, default_dir: str) -> str:
        if source.endswith('.py'):
            return pretrain(source, default_dir, gpus, pretrain_cfg_options)
        return source

    main_dir = pretrain_work_dir or _pretrain_dir(work_dir, pretrain_source)
    checkpoint = resolve(pretrain_source, main_dir)
    sha, meta = extract(checkpoint, osp.join(weights_dir, 'main_backbone.pth'))
    name = name or str(meta.get('algorithm', 'pretrained')).lower()
    inits: List[Tuple[str, Optional[str], Optional[str]]] = [
        (name, osp.join(weights_dir, 'main_backbone.pth'), sha)
    ]
    if mocov2:
        moco_ckpt = resolve(mocov2, _pretrain_dir(work_dir, mocov2))
        moco_path = osp.join(weights_dir, 'mocov2_backbone.pth')
        inits.append(('mocov2', moco_path, extract(moco_ckpt, moco_path)[0]))
    if random_init:
        inits.append((BASELINE, None, None))

    split = 'test' if test else 'val'
    jobs = [(config, init, seed) for config in downstream for init in inits
            for seed in seeds]
    records = []
    for index, (config, (init, weights, weights_sha), seed) in enumerate(
            jobs, 1):
        config_name = osp.splitext(osp.basename(config))[0]
        run_dir = osp.join(work_dir, init, config_name, f'seed{seed}')
        print(f'[{index}/{len(jobs)}] {init} -> {config_name}, seed {seed} '
              f'(log: {run_dir}/transfer_stdout.log)', flush=True)
        record, reused = finetune(config, init, weights, weights_sha, seed,
                                  run_dir, gpus, cfg_options, test=test)
        records.append(record)
        metrics = record[SPLIT_KEYS[split]]
        shown = {k: metrics[k] for k in shown_metrics([dict(metrics=metrics)])}
        status = 'finished earlier' if reused else (
            f'done in {record["minutes"]:.1f} min')
        print(f'[{index}/{len(jobs)}] {status}: {shown}', flush=True)

    _write_json(records, osp.join(work_dir, 'results.json'))
    table = markdown_table(records, split)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table)
    print()
    print(table)
    print(f'Written: {osp.join(work_dir, "results.md")} and results.json')
    return records
