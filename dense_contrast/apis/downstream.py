"""Fine-tune one downstream config from one initialisation and seed, and
read its scores back.

The run goes through the training script of the config's own package
(mmdet's, mmseg's or mmpretrain's ``tools/train.py``, under torchrun with
``gpus`` > 1), i.e. the downstream config's own mmengine Runner (see
:mod:`.runner`). Its numbers are read from the evaluator's own output (the
Runner's ``vis_data/scalars.json``; for the test split, the test Runner's
``<timestamp>/<timestamp>.json``), never recomputed here. A finished run
leaves ``result.json`` in its folder and is skipped when asked again with
the same resolved config and initial weights (:func:`run_fingerprint`; a
change to either runs it again). With ``test``, the run's last checkpoint
is also scored on the config's test split by the package's
``tools/test.py`` (in ``<run dir>/test``), once.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from dense_contrast.datasets import ensure_toyscenes
from .runner import (RunError, downstream_command, last_checkpoint,
                     run_logged, scalar_logs)

RESULT_FILE = 'result.json'

#: Options of a fine-tune that will be tested: its checkpoints are written
#: by ``SafeCheckpointHook`` so that the package's ``tools/test.py`` loads
#: them under ``torch.load``'s ``weights_only=True`` (the hook, built in the
#: test process too, allowlists what they hold).
TESTABLE_CHECKPOINT_OPTIONS = {
    'default_hooks.safe_checkpoint.type': 'dense_contrast.SafeCheckpointHook'
}


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
    run_options = _run_options(cfg, weights, seed, options, test)
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


def _run_options(cfg: Config, weights: Optional[str], seed: int,
                 options: Optional[Dict[str, object]],
                 test: bool) -> Dict[str, object]:
    """The overrides of one :func:`finetune` run: ``options``, the seed,
    the initialisation and, with ``test``, the testable checkpoints."""
    run_options = dict(options or {})
    if test:
        run_options.update(TESTABLE_CHECKPOINT_OPTIONS)
    run_options['randomness.seed'] = seed
    for path in pretrained_init_paths(cfg):
        if weights is None:
            run_options[path] = None
        else:
            run_options[f'{path}.checkpoint'] = osp.abspath(weights)
    return run_options


def finished_record(config: str,
                    weights: Optional[str],
                    weights_sha: Optional[str],
                    seed: int,
                    run_dir: str,
                    options: Optional[Dict[str, object]] = None,
                    test: bool = False) -> Optional[dict]:
    """The record of a finished :func:`finetune` run with these arguments,
    without running anything.

    Args:
        config (str): The downstream config.
        weights (str, optional): The backbone file, None for random init.
        weights_sha (str, optional): Its sha256, None for random init.
        seed (int): The run's ``randomness.seed``.
        run_dir (str): The Runner's work dir.
        options (dict, optional): Overrides of the run. Defaults to None.
        test (bool): Whether the run must have its test-split metrics.
            Defaults to False.

    Returns:
        dict or None: The record; None when ``run_dir`` holds no finished
        run with the same fingerprint (or, with ``test``, no test
        metrics).
    """
    result_path = osp.join(run_dir, RESULT_FILE)
    if not osp.isfile(result_path):
        return None
    cfg = Config.fromfile(config)
    fingerprint = run_fingerprint(
        cfg, _run_options(cfg, weights, seed, options, test), weights_sha)
    with open(result_path) as f:
        record = json.load(f)
    if record.get('run_fingerprint') != fingerprint or (
            test and 'test_metrics' not in record):
        return None
    return record


def _write_json(data: object, path: str) -> None:
    """Write ``data`` as indented json.

    Args:
        data (object): Anything ``json.dump`` takes.
        path (str): The file.
    """
    with open(path, 'w') as f:
        json.dump(data, f, indent=2)
