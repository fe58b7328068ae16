"""Small-scale study of every method on the toy scenes: dense probes during
pretraining, then the toy Mask R-CNN / FCN transfers, over several seeds.

Methods (equal budget: same images, batch, epochs, queue length and seeds):
random initialisation (no pretraining), mmpretrain's MoCo v2, DenseCL,
DSC-KM, DSC-PM, MCL and DenseCL++. A method whose toy config does not
exist is skipped with a message; run the study again once it lands.

Each pretraining run is a subprocess of ``tools/train.py`` on a config
written next to its results (the method's toy config plus the study's
overrides and a :class:`DenseProbeHook`, see :mod:`.study_settings`, which
also holds :class:`StudySettings`). The probes (linear and k-NN mIoU
and dense correspondence of layer3, fitted on toy scenes train images,
scored on test images) run every ``probe_interval`` epochs inside the
pretraining, and their values are read back from the run's own json log.
The transfers go through :func:`.transfer.extract` and
:func:`.downstream.finetune` (which keeps its finished runs); a transfer
config with learning rates in ``StudySettings.transfer_lrs`` runs once per
rate and reports the test score of the rate its val score chooses. The method
configs and ``tools/train.py`` come from the source checkout
(:data:`.runner.REPO_ROOT`).

Completable in parts: every finished unit (a pretraining run with its
probes, a transfer) leaves ``result.json`` and is skipped when the study
runs again; an interrupted pretraining run resumes from its last
checkpoint. The table (``study.md``, ``study.json``) and the plot
(``probe_curves.png``) are rewritten from whatever is finished
(:mod:`.study_report`); ``finished_only`` writes them without running
anything.
"""
import dataclasses
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import MMLogger

from dense_contrast.evaluation import DenseProbeSuite
from .downstream import finetune, finished_record
from .runner import REPO_ROOT, RunError, run_logged, scalar_logs, train_command
from .study_report import (METHODS, PROBE_METRICS, TRANSFER_METRICS, plot,
                           report_markdown, summarise, transfer_labels)
from .study_settings import (STUDY_TRANSFER_OPTIONS, StudySettings,
                             probe_settings, study_config, study_data_root,
                             toy_backbone_cfg)
from .transfer import extract

RESULT_FILE = 'result.json'
#: The config key of a downstream run's learning rate (mmengine's
#: ``OptimWrapper`` with an SGD-like optimizer, as in every benchmark
#: config here).
LR_OPTION = 'optim_wrapper.optimizer.lr'
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def probe_curve(run_dir: str) -> Dict[int, Dict[str, float]]:
    """Probe values per epoch from a run's own json logs.

    All its timestamps are read, so a resumed run counts; later values win.

    Args:
        run_dir (str): The run's work dir.

    Returns:
        dict[int, dict[str, float]]: Epoch -> probe name -> value.
    """
    curve: Dict[int, Dict[str, float]] = {}
    for path in scalar_logs(run_dir):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'probe/linear_mIoU' in row:
                    curve[int(row['epoch'])] = {
                        k.split('/', 1)[1]: v
                        for k, v in row.items() if k.startswith('probe/')
                    }
    return curve


def _reuse(result_path: str) -> Optional[dict]:
    """The finished unit's result, marked as reused, or None."""
    if not osp.isfile(result_path):
        return None
    with open(result_path) as f:
        return dict(json.load(f), reused=True)


def _write(result: dict, result_path: str) -> dict:
    with open(result_path, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def pretrain_and_probe(method: str, config: str, seed: int,
                       settings: StudySettings, data_root: str) -> dict:
    """One pretraining run with its probe curve (reused when finished).

    Args:
        method (str): A key of :data:`METHODS`.
        config (str): Its toy config.
        seed (int): The seed.
        settings (StudySettings): The study.
        data_root (str): The toy scenes folder.

    Returns:
        dict: The unit's result (``probes`` at the last epoch, ``curve``).

    Raises:
        RunError: If the run fails or logged no final probe.
    """
    run_dir = osp.join(settings.work_dir, method, f'seed{seed}')
    result_path = osp.join(run_dir, RESULT_FILE)
    reused = _reuse(result_path)
    if reused is not None:
        return reused
    cfg_path = study_config(config, settings, seed, data_root, run_dir)
    seconds = run_logged(
        train_command(cfg_path, run_dir, resume=True),
        osp.join(run_dir, 'study_stdout.log'),
        f'pretraining {method} seed {seed}', append=True)
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    curve = probe_curve(run_dir)
    if settings.epochs not in curve:
        raise RunError(f'{method} seed {seed}: no probe at epoch '
                       f'{settings.epochs} in {run_dir}')
    return _write(
        dict(
            method=method, seed=seed, config=osp.relpath(config, REPO_ROOT),
            checkpoint=osp.relpath(checkpoint),
            probes=curve[settings.epochs], curve=curve,
            pretrain_minutes=round(seconds / 60, 2)), result_path)


def probe_random_init(seed: int, settings: StudySettings,
                      data_root: str) -> dict:
    """Probes of a randomly initialised toy ResNet-18 (reused when done).

    Args:
        seed (int): The initialisation seed.
        settings (StudySettings): The study.
        data_root (str): The toy scenes folder.

    Returns:
        dict: The unit's result.
    """
    run_dir = osp.join(settings.work_dir, 'random', f'seed{seed}')
    result_path = osp.join(run_dir, RESULT_FILE)
    reused = _reuse(result_path)
    if reused is not None:
        return reused
    from mmpretrain.models import ResNet
    torch.manual_seed(seed)
    backbone = ResNet(**toy_backbone_cfg())
    backbone.init_weights()
    start = time.time()
    probes = DenseProbeSuite(**probe_settings(settings, data_root))(
        backbone, MEAN, STD)
    os.makedirs(run_dir, exist_ok=True)
    return _write(
        dict(method='random', seed=seed, config=None, checkpoint=None,
             probes=probes, curve={0: probes},
             probe_seconds=round(time.time() - start, 1)), result_path)


def val_score(metrics: Dict[str, float]) -> float:
    """The score a downstream run is chosen by.

    Args:
        metrics (dict[str, float]): A run's val metrics (the ``metrics`` of
            a :func:`.downstream.finetune` record).

    Returns:
        float: The first metric of :data:`TRANSFER_METRICS` found (e.g.
        ``mIoU``; names compared after their last ``/``).

    Raises:
        RunError: If there is none.
    """
    for name in TRANSFER_METRICS:
        for key, value in metrics.items():
            if key.split('/')[-1] == name:
                return value
    raise RunError(f'none of {TRANSFER_METRICS} in the val metrics '
                   f'{sorted(metrics)}')


def choose_on_val(records: Dict[float, dict]) -> float:
    """The learning rate whose run scored best on the val split.

    Args:
        records (dict[float, dict]): Learning rate -> the
            :func:`.downstream.finetune` record of its run (``metrics``:
            its last val evaluation).

    Returns:
        float: The rate with the highest :func:`val_score`; the smaller
        rate on a tie.
    """
    return max(sorted(records),
               key=lambda lr: (val_score(records[lr]['metrics']), -lr))


def transfer(result: dict, settings: StudySettings
             ) -> Tuple[Dict[str, float], Dict[str, dict]]:
    """The downstream runs of one run's backbone, scored on their configs'
    test split.

    A config with learning rates in ``settings.transfer_lrs`` runs once
    per rate (in ``<config name>_lr<rate>``); the run with the best val
    score (:func:`choose_on_val`) gives the test scores.

    Args:
        result (dict): A unit's result (random init when it has no
            checkpoint).
        settings (StudySettings): The study.

    Returns:
        tuple[dict[str, float], dict[str, dict]]: ``<model>/<metric>`` ->
        test value (with ``settings.finished_only``, of the finished
        transfers only); and for each config that chose a learning rate,
        its label -> ``lr`` (the chosen rate) and ``val`` (rate -> val
        score of each run).
    """
    method, seed = result['method'], result['seed']
    weights = sha = None
    if result['checkpoint'] is not None:
        weights = osp.join(settings.work_dir, method, f'seed{seed}',
                           'backbone.pth')
        sha, _ = extract(result['checkpoint'], weights)
    metrics, choices = {}, {}
    labels = transfer_labels(settings.transfer_configs)
    for config in settings.transfer_configs:
        name = osp.splitext(osp.basename(config))[0]
        run_dir = osp.join(settings.work_dir, method, f'seed{seed}', name)
        options = dict(STUDY_TRANSFER_OPTIONS.get(name, {}))
        options.update(settings.transfer_cfg_options)
        lrs = settings.transfer_lrs.get(name)
        runs = {None: (run_dir, options)} if not lrs else {
            lr: (f'{run_dir}_lr{lr:g}', dict(options, **{LR_OPTION: lr}))
            for lr in lrs
        }
        records = {}
        for lr, (lr_dir, lr_options) in runs.items():
            if settings.finished_only:
                record = finished_record(config, weights, sha, seed, lr_dir,
                                         lr_options, test=True)
                if record is None:
                    print(f'[study] {method} seed {seed}: '
                          f'{osp.basename(lr_dir)} not finished, left out',
                          flush=True)
                    break
            else:
                record, _ = finetune(config, method, weights, sha, seed,
                                     lr_dir, 1, lr_options, test=True)
            records[lr] = record
        if len(records) < len(runs):
            continue
        chosen = None if not lrs else choose_on_val(records)
        if chosen is not None:
            choices[labels[config]] = dict(
                lr=chosen,
                val={f'{lr:g}': val_score(r['metrics'])
                     for lr, r in records.items()})
        for key, value in records[chosen]['test_metrics'].items():
            if key.split('/')[-1] in TRANSFER_METRICS:
                metrics[f'{labels[config]}/{key.split("/")[-1]}'] = value
    return metrics, choices


def _plan(settings: StudySettings) -> list:
    """(method, config, seed) units, seed-major: a study stopped early has
    every method's seed 0."""
    plan = []
    for method in settings.methods:
        config = METHODS[method][1]
        if config is not None and not osp.isfile(
                osp.join(REPO_ROOT, config)):
            print(f'[study] {method}: skipped, {config} does not exist yet '
                  '(run again once it lands)', flush=True)
            continue
        plan += [(method, config, seed) for seed in settings.seeds]
    plan.sort(key=lambda unit: settings.seeds.index(unit[2]))
    return plan


def write_report(work_dir: str, study: dict) -> str:
    """Write ``study.md``, ``study.json`` and ``probe_curves.png``.

    Args:
        work_dir (str): The study's folder.
        study (dict): ``rows`` (:func:`.study_report.summarise`), ``runs``
            (method -> unit results) and whatever else to keep.

    Returns:
        str: The text of ``study.md``
        (:func:`.study_report.report_markdown`).
    """
    table = report_markdown(
        {m: runs for m, runs in study['runs'].items() if m in METHODS})
    with open(osp.join(work_dir, 'study.md'), 'w') as f:
        f.write(table)
    with open(osp.join(work_dir, 'study.json'), 'w') as f:
        json.dump(study, f, indent=2)
    plot(study['runs'], osp.join(work_dir, 'probe_curves.png'))
    return table


def report_study(work_dir: str) -> str:
    """Rewrite the table and the plot from a finished study's
    ``study.json`` (nothing runs).

    Args:
        work_dir (str): A folder holding ``study.json``.

    Returns:
        str: The markdown table.

    Raises:
        RunError: If ``study.json`` is missing or lacks ``runs``.
    """
    path = osp.join(work_dir, 'study.json')
    if not osp.isfile(path):
        raise RunError(f'{path} does not exist: run the study first '
                       '(without --report-only)')
    with open(path) as f:
        study = json.load(f)
    if not isinstance(study.get('runs'), dict):
        raise RunError(f'{path}: expected a dict under "runs" (method -> '
                       'unit results), as tools/study.py writes')
    records = {m: runs for m, runs in study['runs'].items() if m in METHODS}
    study['rows'] = summarise(records)
    return write_report(work_dir, study)


def run_study(settings: StudySettings) -> List[str]:
    """Run every unit not finished yet, then write the table and the plot.

    Progress is printed; ``study.md``, ``study.json`` and
    ``probe_curves.png`` are written under ``settings.work_dir``. A unit
    that fails is reported and left out; the others go on. With
    ``settings.finished_only`` nothing runs: the finished units (and their
    finished transfers) are tabulated, e.g. after a study was stopped or
    run in parts side by side.

    Args:
        settings (StudySettings): The study.

    Returns:
        list[str]: The units that failed (``'<method> seed <k>'``).
    """
    os.makedirs(settings.work_dir, exist_ok=True)
    # Quiet mmengine's 'current' logger (weight-init reports of the random
    # backbones); the pretraining subprocesses keep their own logs.
    MMLogger.get_instance('dense_contrast_study', log_level='WARNING')
    start = time.time()
    data_root = study_data_root(settings)
    with_transfer = not settings.no_transfer
    if with_transfer:
        missing = [c for c in settings.transfer_configs if not osp.isfile(c)]
        if missing:
            print(f'[study] transfers skipped: {missing} missing', flush=True)
            with_transfer = False

    plan = _plan(settings)
    records: Dict[str, List[dict]] = {m: [] for m in settings.methods}
    failures = []
    for i, (method, config, seed) in enumerate(plan, 1):
        tag = f'[study {i}/{len(plan)}] {method} seed {seed}'
        unit_start = time.time()
        if settings.finished_only and not osp.isfile(
                osp.join(settings.work_dir, method, f'seed{seed}',
                         RESULT_FILE)):
            print(f'{tag}: not finished, left out', flush=True)
            continue
        try:
            if config is None:
                result = probe_random_init(seed, settings, data_root)
            else:
                if not osp.isfile(
                        osp.join(settings.work_dir, method, f'seed{seed}',
                                 RESULT_FILE)):
                    print(f'{tag}: pretraining (log {settings.work_dir}/'
                          f'{method}/seed{seed}/study_stdout.log)',
                          flush=True)
                result = pretrain_and_probe(method,
                                            osp.join(REPO_ROOT, config),
                                            seed, settings, data_root)
            if with_transfer and (settings.transfer_seeds is None
                                  or seed in settings.transfer_seeds):
                print(f'{tag}: transfers', flush=True)
                result['transfer'], choices = transfer(result, settings)
                if choices:
                    result['transfer_lr'] = choices
        except (RuntimeError, SystemExit) as err:
            print(f'{tag}: FAILED: {err}', flush=True)
            failures.append(f'{method} seed {seed}')
            continue
        records[method].append(result)
        probes = ', '.join(f'{k} {result["probes"][k]:.1f}'
                           for k in PROBE_METRICS if k in result['probes'])
        probes += ''.join(f', {k} {v:.1f}'
                          for k, v in result.get('transfer', {}).items())
        probes += ''.join(f' ({k}: lr {c["lr"]:g} chosen on val)'
                          for k, c in result.get('transfer_lr', {}).items())
        state = 'reused' if result.get('reused') else \
            f'{time.time() - unit_start:.0f} s'
        print(f'{tag}: {probes} ({state}; {(time.time() - start) / 60:.1f} '
              'min so far)', flush=True)

    table = write_report(
        settings.work_dir,
        dict(rows=summarise(records), runs=records,
             settings=dataclasses.asdict(settings), data_root=data_root,
             minutes_this_invocation=round((time.time() - start) / 60, 2)))
    print(table, flush=True)
    print(f'[study] wrote {settings.work_dir}/study.md, study.json, '
          f'probe_curves.png in {(time.time() - start) / 60:.1f} min',
          flush=True)
    if failures:
        print(f'[study] failed: {", ".join(failures)}', flush=True)
    return failures
