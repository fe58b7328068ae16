"""Small-scale study of every method on the toy scenes: dense probes during
pretraining, then the toy Mask R-CNN / FCN transfers, over several seeds.

Methods (equal budget: same images, batch, epochs, queue length and seeds):
random initialisation (no pretraining), mmpretrain's MoCo v2, DenseCL,
DSC-KM, DSC-PM, MCL and DenseCL++. A method whose toy config does not
exist is skipped with a message; run the command again once it lands.

Each pretraining run is a subprocess of ``tools/train.py`` on a config
written next to its results (the method's toy config plus the study's
overrides and a :class:`DenseProbeHook`). The probes (linear and k-NN mIoU
of the last ResNet stage, fitted on toy scenes train images, scored on val
images) run every ``--probe-interval`` epochs inside the pretraining, and
their values are read back from the run's own json log. The transfers go
through ``tools/transfer.py`` (its ``extract`` and ``finetune``), which
also keeps its finished runs.

Sizing (defaults): ResNet-18 (the toy configs' backbone), the methods' own
96 px views of the 128 px toy scenes, the first 384 training images, batch
32, 4 epochs (48 iterations, a cosine schedule over them), queues of 512
keys; probes on 100 train / 50 val images read at 256 px (an 8x8 layer4
grid; k-NN with k = 5); the transfers at a smaller budget than the toy configs'
(``STUDY_TRANSFER_OPTIONS``; ``--transfer-cfg-options`` overrides it).
Measured on 2 free CPU cores: 21 pretraining runs with their probes take
about 40 minutes (1.3 to 1.7 min each, MCL 4.5) and a pair of transfers 2
to 3.5 minutes, so ``--transfer-seeds 0`` (the README's table) takes about
56 minutes; transfers for every seed add about 40.
Units run seed by seed (every method's seed 0 first), so a study stopped
early still compares every method. Measured figures are in the README.

Completable in parts: every finished unit (a pretraining run with its
probes, a transfer) leaves ``result.json`` and is skipped when the command
runs again; an interrupted pretraining run resumes from its last
checkpoint. The table (``study.md``, ``study.json``) and the plot
(``probe_curves.png``) are rewritten from whatever is finished.

Examples::

    python tools/study.py                                  # the whole study
    python tools/study.py --methods random densecl mocov2 --seeds 0
    python tools/study.py --no-transfer                    # probes only
    python tools/study.py --quick --work-dir /tmp/study    # tiny smoke run
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

from dense_contrast.datasets import ensure_toyscenes  # noqa: E402
from dense_contrast.evaluation import DenseProbeSuite  # noqa: E402

#: Study methods in table order: name -> (label, toy config or None).
METHODS = {
    'random': ('random init', None),
    'mocov2': ('MoCo v2 (mmpretrain)',
               'configs/mocov2/mocov2_resnet18_1xb32-coslr-8e_toyscenes.py'),
    'densecl': ('DenseCL',
                'configs/densecl/densecl_resnet18_1xb32-coslr-8e_toyscenes.py'),
    'dsc_km': ('DSC-KM',
               'configs/dsc/dsc-km_resnet18_1xb32-coslr-8e_toyscenes.py'),
    'dsc_pm': ('DSC-PM',
               'configs/dsc/dsc-pm_resnet18_1xb32-coslr-8e_toyscenes.py'),
    'mcl': ('MCL', 'configs/mcl/mcl_resnet18_1xb32-lars-coslr-8e_toyscenes.py'),
    'densecl_pp': ('DenseCL++',
                   'configs/densecl_pp/'
                   'densecl-pp_resnet18_1xb32-coslr-8e_toyscenes.py'),
}

TRANSFER_CONFIGS = [
    'configs/benchmarks/mmdetection/mask-rcnn_r18_fpn_1xb8-2e_toyscenes.py',
    'configs/benchmarks/mmsegmentation/'
    'fcn_r18-d8_1xb8-100i_toyscenes-128x128.py',
]

#: The study's transfer budget, per toy config (on top of the config's own
#: settings; ``--transfer-cfg-options`` comes after), smaller than the toy
#: configs' so that the transfers fit the study's time: Mask R-CNN 2 epochs
#: of 200 images (50 iterations), scored on 100 validation images; FCN 60
#: iterations, scored on 100.
STUDY_TRANSFER_OPTIONS = {
    'mask-rcnn_r18_fpn_1xb8-2e_toyscenes': {
        'train_dataloader.dataset.indices': 200,
        'val_dataloader.dataset.indices': 100,
    },
    'fcn_r18-d8_1xb8-100i_toyscenes-128x128': {
        'train_cfg.max_iters': 60,
        'train_cfg.val_interval': 60,
        'param_scheduler.0.end': 60,
        'default_hooks.checkpoint.interval': 60,
        'val_dataloader.dataset.indices': 100,
    },
}

#: Transfer metrics shown in the table (name endings).
TRANSFER_METRICS = ('bbox_mAP', 'segm_mAP', 'mIoU')
PROBE_METRICS = ('linear_mIoU', 'knn_mIoU')
RESULT_FILE = 'result.json'
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The options.
    """
    p = argparse.ArgumentParser(
        description='Pretrain every method on toy scenes with an equal '
        'budget, probe and transfer, tabulate and plot.')
    p.add_argument('--work-dir', default='work_dirs/issue7_study')
    p.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--data-root', default=None,
                   help='toy scenes folder (default data/toyscenes; '
                   '--quick: a tiny one under the work dir)')
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--num-images', type=int, default=384,
                   help='pretraining images (the first ones of train)')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--queue-len', type=int, default=512)
    p.add_argument('--probe-interval', type=int, default=1)
    p.add_argument('--probe-train', type=int, default=100)
    p.add_argument('--probe-val', type=int, default=50)
    p.add_argument('--no-transfer', action='store_true')
    p.add_argument('--transfer-configs', nargs='+', default=TRANSFER_CONFIGS)
    p.add_argument('--transfer-seeds', nargs='+', type=int, default=None,
                   help='run the transfers for these seeds only (default: '
                   'every seed); the probes run for every seed')
    p.add_argument('--transfer-cfg-options', nargs='+', action=DictAction,
                   default={}, help='overrides for every transfer run')
    p.add_argument('--quick', action='store_true',
                   help='tiny settings for a smoke test (well under a '
                   'minute per method): 16 images of 64 px, 2 epochs, no '
                   'transfers')
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.num_images, args.batch_size = 2, 8, 4
        args.queue_len, args.probe_train, args.probe_val = 16, 8, 2
        args.no_transfer = True
    for name in ('epochs', 'num_images', 'batch_size', 'queue_len',
                 'probe_interval', 'probe_train', 'probe_val'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def _load_transfer_module():
    """tools/transfer.py as a module (tools/ is not a package)."""
    path = osp.join(REPO_ROOT, 'tools', 'transfer.py')
    if not osp.isfile(path):
        return None
    spec = importlib.util.spec_from_file_location('dc_transfer', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data_root(args: argparse.Namespace) -> str:
    """The toy scenes folder, generated when missing."""
    if args.data_root is not None:
        root = args.data_root
        if not osp.isfile(osp.join(root, 'meta.json')):
            ensure_toyscenes(root)
    elif args.quick:
        root = osp.join(args.work_dir, 'toyscenes')
        ensure_toyscenes(root, num_train=16, num_val=4, img_size=64,
                         progress=False)
    else:
        root = 'data/toyscenes'
        ensure_toyscenes(root)
    return root


def _probe_settings(args: argparse.Namespace, data_root: str) -> dict:
    """Arguments of DenseProbeSuite / DenseProbeHook shared by all runs.

    The 128 px toy images are read at 256 px so that layer4 gives an 8x8
    grid: at the native 4x4 grid every cell is mostly background and the
    k-NN vote labels (almost) everything background, whatever the
    features. k = 5 for the same reason (small objects have few cells).
    """
    settings = dict(
        data_root=osp.abspath(data_root),
        num_train=args.probe_train,
        num_val=args.probe_val)
    if args.quick:  # 64 px images: read layer3 (a 4x4 grid, not 2x2)
        settings.update(stage=2, probes=[
            dict(type='DenseLinearProbe', steps=20),
            dict(type='DenseKNNProbe', k=5)
        ])
    else:
        settings.update(img_scale=256, probes=[
            dict(type='DenseLinearProbe'),
            dict(type='DenseKNNProbe', k=5)
        ])
    return settings


def study_config(config: str, args: argparse.Namespace, seed: int,
                 data_root: str, run_dir: str) -> str:
    """Write the config of one pretraining run and return its path.

    The method's toy config with the study's equal budget: data, images,
    batch, epochs (schedulers rescaled), queue length, seed, checkpoints
    only at the end, and the probe hook.
    """
    cfg = Config.fromfile(config)
    with open(osp.join(data_root, 'meta.json')) as f:
        meta = json.load(f)
    old_epochs = cfg.train_cfg.max_epochs
    dataset = cfg.train_dataloader.dataset
    dataset.update(
        data_root=osp.abspath(data_root),
        indices=args.num_images,
        **{k: meta[k]
           for k in ('num_train', 'num_val', 'img_size', 'seed')})
    cfg.train_dataloader.batch_size = args.batch_size
    if args.quick:
        cfg.train_dataloader.num_workers = 0
        cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg.max_epochs = args.epochs
    for sched in cfg.get('param_scheduler', None) or []:
        if sched.get('end') == old_epochs:
            sched.end = args.epochs
            if 'T_max' in sched:
                sched.T_max = args.epochs - sched.get('begin', 0)
        elif sched.get('end', 0) >= args.epochs:
            raise SystemExit(
                f'error: {config}: a scheduler ends at epoch '
                f'{sched.end}, past the study\'s {args.epochs} epochs')
    if 'queue_len' in cfg.model:
        cfg.model.queue_len = args.queue_len
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(
            type='DenseProbeHook',
            interval=args.probe_interval,
            **_probe_settings(args, data_root))
    ]
    os.makedirs(run_dir, exist_ok=True)
    path = osp.join(run_dir, 'study_config.py')
    cfg.dump(path)
    return path


def probe_curve(run_dir: str) -> Dict[int, Dict[str, float]]:
    """Probe values per epoch from a run's own json logs (all its
    timestamps, so a resumed run counts; later values win)."""
    curve: Dict[int, Dict[str, float]] = {}
    for stamp in sorted(os.listdir(run_dir)):
        path = osp.join(run_dir, stamp, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if 'probe/linear_mIoU' in row:
                    curve[int(row['epoch'])] = {
                        k.split('/', 1)[1]: v
                        for k, v in row.items() if k.startswith('probe/')
                    }
    return curve


def _run(cmd: List[str], log_path: str, what: str) -> float:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'a') as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env=env)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-25:])
        raise RuntimeError(f'{what} failed (exit {proc.returncode}), log '
                           f'{log_path}:\n{tail}')
    return time.time() - start


def pretrain_and_probe(method: str, config: str, seed: int,
                       args: argparse.Namespace, data_root: str) -> dict:
    """One pretraining run with its probe curve (reused when finished)."""
    run_dir = osp.join(args.work_dir, method, f'seed{seed}')
    result_path = osp.join(run_dir, RESULT_FILE)
    if osp.isfile(result_path):
        with open(result_path) as f:
            return dict(json.load(f), reused=True)
    cfg_path = study_config(config, args, seed, data_root, run_dir)
    log_path = osp.join(run_dir, 'study_stdout.log')
    seconds = _run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), cfg_path, '--work-dir',
        run_dir, '--resume'
    ], log_path, f'pretraining {method} seed {seed}')
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    curve = probe_curve(run_dir)
    if args.epochs not in curve:
        raise RuntimeError(f'{method} seed {seed}: no probe at epoch '
                           f'{args.epochs} in {run_dir}')
    result = dict(
        method=method, seed=seed, config=config,
        checkpoint=osp.relpath(checkpoint),
        probes=curve[args.epochs], curve=curve,
        pretrain_minutes=round(seconds / 60, 2))
    with open(result_path, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def probe_random_init(seed: int, args: argparse.Namespace,
                      data_root: str) -> dict:
    """Probes of a randomly initialised ResNet-18 (reused when done)."""
    run_dir = osp.join(args.work_dir, 'random', f'seed{seed}')
    result_path = osp.join(run_dir, RESULT_FILE)
    if osp.isfile(result_path):
        with open(result_path) as f:
            return dict(json.load(f), reused=True)
    from mmpretrain.models import ResNet
    torch.manual_seed(seed)
    backbone = ResNet(depth=18)
    backbone.init_weights()
    settings = _probe_settings(args, data_root)
    start = time.time()
    probes = DenseProbeSuite(**settings)(backbone, MEAN, STD)
    os.makedirs(run_dir, exist_ok=True)
    result = dict(method='random', seed=seed, config=None, checkpoint=None,
                  probes=probes, curve={0: probes},
                  probe_seconds=round(time.time() - start, 1))
    with open(result_path, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def transfer(result: dict, args: argparse.Namespace, transfer_mod) -> dict:
    """Toy Mask R-CNN / FCN fine-tunes of one run's backbone."""
    method, seed = result['method'], result['seed']
    weights = sha = None
    if result['checkpoint'] is not None:
        weights = osp.join(args.work_dir, method, f'seed{seed}',
                           'backbone.pth')
        sha, _ = transfer_mod.extract(result['checkpoint'], weights)
    metrics = {}
    for config in args.transfer_configs:
        name = osp.splitext(osp.basename(config))[0]
        run_dir = osp.join(args.work_dir, method, f'seed{seed}', name)
        options = dict(STUDY_TRANSFER_OPTIONS.get(name, {}))
        options.update(args.transfer_cfg_options)
        record, _ = transfer_mod.finetune(config, method, weights, sha, seed,
                                          run_dir, 1, options)
        for key, value in record['metrics'].items():
            if key.split('/')[-1] in TRANSFER_METRICS:
                metrics[f'{name.split("_")[0]}/{key.split("/")[-1]}'] = value
    return metrics


def _mean_spread(values: Sequence[float]) -> tuple:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) /
                    (n - 1)) if n > 1 else 0.0
    return mean, std


def summarise(records: Dict[str, List[dict]]) -> List[dict]:
    """Per method: mean and spread of every score over its seeds."""
    rows = []
    for method, runs in records.items():
        if not runs:
            continue
        scores: Dict[str, List[float]] = {}
        for run in runs:
            for key, value in {**run['probes'],
                               **run.get('transfer', {})}.items():
                scores.setdefault(key, []).append(value)
        rows.append(
            dict(
                method=method,
                label=METHODS[method][0],
                seeds=[r['seed'] for r in runs],
                scores={
                    k: dict(zip(('mean', 'std'), _mean_spread(v)), n=len(v))
                    for k, v in scores.items()
                }))
    return rows


def markdown(rows: List[dict]) -> str:
    """The table: one row per method, mean ± sample std over seeds (a
    score measured for one seed only is marked n = 1)."""
    columns = [c for c in PROBE_METRICS]
    for row in rows:
        columns += [k for k in row['scores']
                    if k not in columns and k.split('/')[-1] in
                    TRANSFER_METRICS]
    head = ['method', 'seeds'] + [c.replace('_', ' ') for c in columns]
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + ' --- |' * len(head)]
    for row in rows:
        cells = [row['label'], ' '.join(map(str, row['seeds']))]
        for c in columns:
            s = row['scores'].get(c)
            digits = 3 if c.endswith('mAP') else 2  # COCO AP is in [0, 1]
            if s is None:
                cells.append('-')
            elif s['n'] == 1:
                cells.append(f'{s["mean"]:.{digits}f} (n = 1)')
            else:
                cells.append(
                    f'{s["mean"]:.{digits}f} ± {s["std"]:.{digits}f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot(records: Dict[str, List[dict]], path: str) -> None:
    """Probe mIoU against pretraining epoch, mean over seeds with a ±1 std
    band; random init as a dashed line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, PROBE_METRICS):
        for method, runs in records.items():
            if not runs:
                continue
            label = METHODS[method][0]
            if method == 'random':
                mean, _ = _mean_spread([r['probes'][metric] for r in runs])
                ax.axhline(mean, ls='--', c='grey', label=label)
                continue
            epochs = sorted({int(e) for r in runs for e in r['curve']})
            stats = [
                _mean_spread([
                    r['curve'][str(e) if str(e) in r['curve'] else e][metric]
                    for r in runs
                    if str(e) in r['curve'] or e in r['curve']
                ]) for e in epochs
            ]
            mean = [m for m, _ in stats]
            std = [s for _, s in stats]
            line, = ax.plot(epochs, mean, marker='o', label=label)
            ax.fill_between(epochs, [m - s for m, s in zip(mean, std)],
                            [m + s for m, s in zip(mean, std)],
                            color=line.get_color(), alpha=0.2)
        ax.set_xlabel('pretraining epoch')
        ax.set_ylabel(f'{metric.replace("_", " ")} (%)')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    # Quiet mmengine's 'current' logger (weight-init reports of the random
    # backbones); the pretraining subprocesses keep their own logs.
    MMLogger.get_instance('dense_contrast_study', log_level='WARNING')
    start = time.time()
    data_root = _data_root(args)
    transfer_mod = None
    if not args.no_transfer:
        transfer_mod = _load_transfer_module()
        missing = [c for c in args.transfer_configs if not osp.isfile(c)]
        if transfer_mod is None or missing:
            print('[study] transfers skipped: tools/transfer.py or '
                  f'{missing} missing', flush=True)
            transfer_mod = None

    plan = []  # seed-major: a study stopped early has every method's seed 0
    for method in args.methods:
        config = METHODS[method][1]
        if config is not None and not osp.isfile(
                osp.join(REPO_ROOT, config)):
            print(f'[study] {method}: skipped, {config} does not exist yet '
                  '(run again once it lands)', flush=True)
            continue
        plan += [(method, config, seed) for seed in args.seeds]
    plan.sort(key=lambda unit: args.seeds.index(unit[2]))

    records: Dict[str, List[dict]] = {m: [] for m in args.methods}
    failures = []
    for i, (method, config, seed) in enumerate(plan, 1):
        tag = f'[study {i}/{len(plan)}] {method} seed {seed}'
        unit_start = time.time()
        try:
            if config is None:
                result = probe_random_init(seed, args, data_root)
            else:
                if not osp.isfile(
                        osp.join(args.work_dir, method, f'seed{seed}',
                                 RESULT_FILE)):
                    print(f'{tag}: pretraining (log {args.work_dir}/'
                          f'{method}/seed{seed}/study_stdout.log)',
                          flush=True)
                result = pretrain_and_probe(method,
                                            osp.join(REPO_ROOT, config),
                                            seed, args, data_root)
            if transfer_mod is not None and (args.transfer_seeds is None or
                                             seed in args.transfer_seeds):
                print(f'{tag}: transfers', flush=True)
                result['transfer'] = transfer(result, args, transfer_mod)
        except (RuntimeError, SystemExit) as err:
            print(f'{tag}: FAILED: {err}', flush=True)
            failures.append(f'{method} seed {seed}')
            continue
        records[method].append(result)
        probes = ', '.join(f'{k} {result["probes"][k]:.1f}'
                           for k in PROBE_METRICS)
        state = 'reused' if result.get('reused') else \
            f'{time.time() - unit_start:.0f} s'
        print(f'{tag}: {probes} ({state}; {(time.time() - start) / 60:.1f} '
              'min so far)', flush=True)

    rows = summarise(records)
    table = markdown(rows)
    with open(osp.join(args.work_dir, 'study.md'), 'w') as f:
        f.write(table)
    with open(osp.join(args.work_dir, 'study.json'), 'w') as f:
        json.dump(
            dict(rows=rows, runs=records, settings=vars(args),
                 data_root=data_root,
                 minutes=round((time.time() - start) / 60, 2)), f, indent=2)
    plot(records, osp.join(args.work_dir, 'probe_curves.png'))
    print(table, flush=True)
    print(f'[study] wrote {args.work_dir}/study.md, study.json, '
          f'probe_curves.png in {(time.time() - start) / 60:.1f} min',
          flush=True)
    if failures:
        print(f'[study] failed: {", ".join(failures)}', flush=True)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
