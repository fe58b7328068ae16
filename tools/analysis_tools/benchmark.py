"""Speed and memory of a training step, against mmpretrain's DenseCL and MoCo v2.

Every config is built as the Runner builds it (model, ``init_weights``,
optimizer wrapper from the config) and fed one fixed batch: the config's own
train pipeline applied to synthetic toy-scene images (``LoadImageFromFile``
dropped), collated once. Configs that share a setting (backbone depth, view
size, batch) are stepped in turn in one process, together with mmpretrain's
``DenseCL`` and ``MoCo`` (MoCo v2 neck) built with the same backbone, batch,
queue length, projection size and optimizer, and fed the first two views of
the same batch. A step is ``model.train_step``: data preprocessor, forward,
loss, backward and optimizer step through the optimizer wrapper.

Each round steps every model once (the order rotates from round to round);
the figures are medians over rounds of per-round ratios, so a machine shared
with other jobs slows the models of a round alike. Peak memory is the memory
allocated at the start of a step plus the largest growth during it: on the
CPU from one step under ``torch.profiler`` (allocation events), on CUDA from
``torch.cuda.max_memory_allocated``.

Examples:
    # R50 at 224 px, 8 images per step, on the CPU (the README table)
    python tools/benchmark.py configs/densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py --batch 8
    # every R50 and toy config on disk, each at its own batch
    python tools/benchmark.py
    # on a GPU: fp32 and fp16 AMP, channels_last off and on
    python tools/benchmark.py CONFIGS --device cuda --precision fp32 fp16 --channels-last off on
"""
import argparse
import copy
import glob
import itertools
import json
import os
import os.path as osp
import random
import re
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import dense_contrast  # noqa: E402,F401  (registers the project's types)
from dense_contrast.datasets.toyscenes import render_scene  # noqa: E402
from dense_contrast.registry import MODELS, TRANSFORMS  # noqa: E402

DEFAULT_CONFIG_PATTERNS = ('configs/*/*_resnet50_*.py',
                           'configs/*/*_toyscenes.py')
REFERENCES = ('mmpretrain DenseCL', 'mmpretrain MoCo v2')
AMP_DTYPES = {'bf16': 'bfloat16', 'fp16': 'float16'}


def default_configs() -> List[str]:
    """Every method's R50 and toy config on disk (relative to the repo)."""
    found = itertools.chain.from_iterable(
        sorted(glob.glob(osp.join(ROOT, p))) for p in DEFAULT_CONFIG_PATTERNS)
    return [osp.relpath(p, ROOT) for p in found]


def split_config_spec(spec: str) -> Tuple[str, dict]:
    """Split ``CONFIG[:key=value,key=value]`` into the config path and its
    own overrides (values parsed as on mmengine's ``--cfg-options``)."""
    path, _, options = spec.partition('.py:')
    if not options:
        return spec, {}
    overrides = {}
    for item in re.split(r',(?=[\w.]+=)', options):
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(f'{spec}: expected CONFIG.py:key=value[,...], '
                             f'got {item!r}')
        overrides[key] = DictAction._parse_iterable(value)
    return path + '.py', overrides


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time and memory of a training step against '
        "mmpretrain's DenseCL and MoCo v2")
    parser.add_argument(
        'configs',
        nargs='*',
        help='method configs; default: every configs/*/*_resnet50_*.py and '
        'configs/*/*_toyscenes.py on disk. CONFIG:key=value,key=value '
        'measures CONFIG with its own overrides (e.g. '
        'mcl.py:model.head_on_used_windows=True next to mcl.py)')
    parser.add_argument(
        '--batch',
        type=int,
        help='images per step for every config (default: each config\'s '
        'train_dataloader.batch_size)')
    parser.add_argument('--rounds', type=int, default=10,
                        help='timed rounds (default 10)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per model first (default 2)')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' (default) or 'cuda'")
    parser.add_argument(
        '--precision',
        nargs='+',
        default=['fp32'],
        choices=['fp32', 'bf16', 'fp16'],
        help='precisions to measure; bf16/fp16 run under '
        'MixedPrecisionOptimWrapper (default fp32)')
    parser.add_argument(
        '--channels-last',
        nargs='+',
        default=['off'],
        choices=['off', 'on'],
        help='memory formats to measure (default off)')
    parser.add_argument(
        '--with-cp',
        nargs='+',
        default=['off'],
        choices=['off', 'on'],
        help='backbone gradient checkpointing settings (default off)')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='after the rounds, write a torch.profiler table of one step '
        'per model (profile_<model>.txt in --out-dir)')
    parser.add_argument('--source-size', type=int, default=256,
                        help='side of the synthetic source images')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--out-dir',
        default='work_dirs/benchmark',
        help='where benchmark.md and benchmark.json go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config')
    args = parser.parse_args(argv)
    if not args.configs:
        args.configs = default_configs()
    for spec in args.configs:
        try:
            path = split_config_spec(spec)[0]
        except ValueError as err:
            parser.error(str(err))
        if not osp.isfile(path):
            parser.error(f'config file {path} does not exist')
    if args.rounds < 1 or args.warmup < 0:
        parser.error('--rounds must be >= 1 and --warmup >= 0')
    return args


# ---------------------------------------------------------------- inputs
def make_batch(cfg: Config, batch_size: int, source_size: int,
               seed: int) -> dict:
    """One collated batch from the config's train pipeline on synthetic
    toy-scene images (BGR uint8, as ``LoadImageFromFile`` gives), the
    config's image loading transform dropped.

    Returns:
        dict: ``inputs`` (list of V tensors of shape (N, 3, H, W), uint8)
        and ``data_samples``, as a dataloader yields them.
    """
    try:
        pipeline_cfg = cfg.train_dataloader.dataset.pipeline
    except AttributeError as err:
        raise KeyError(f'{cfg.filename}: no train_dataloader.dataset.pipeline'
                       ) from err
    # Every loader (LoadImageFromFile, RobustLoadImageFromFile, ...) is
    # replaced by the synthetic images.
    transforms = [
        TRANSFORMS.build(copy.deepcopy(t)) for t in pipeline_cfg
        if not str(t['type']).endswith('LoadImageFromFile')
    ]
    # The transforms draw from numpy's and Python's global generators.
    np.random.seed(seed)
    random.seed(seed)
    samples = []
    for index in range(batch_size):
        image = render_scene(seed, 'train', index, source_size).image
        results = dict(
            img=image[..., ::-1].copy(),  # RGB -> BGR
            img_shape=image.shape[:2],
            ori_shape=image.shape[:2])
        for transform in transforms:
            results = transform(results)
        samples.append(results)
    return default_collate(samples)


def _batch_size(cfg: Config, override: Optional[int]) -> int:
    return override or cfg.train_dataloader.batch_size


# ---------------------------------------------------------------- models
def reference_cfgs(model_cfg: dict) -> Dict[str, dict]:
    """mmpretrain's DenseCL and MoCo v2 with the backbone, queue length,
    projection size and hidden width of a method's model config."""
    backbone = dict(
        type='mmpretrain.ResNet',
        depth=model_cfg['backbone'].get('depth', 50),
        out_indices=(3, ),
        zero_init_residual=False,
        with_cp=model_cfg['backbone'].get('with_cp', False))
    in_channels = 512 if backbone['depth'] in (18, 34) else 2048
    neck = model_cfg.get('neck') or {}
    hid_channels = neck.get('hid_channels', in_channels)
    feat_dim = model_cfg.get('feat_dim', 128)
    common = dict(
        queue_len=model_cfg.get('queue_len', 65536),
        feat_dim=feat_dim,
        momentum=0.001,  # mmengine's EMA convention: 1 - m
        backbone=backbone,
        data_preprocessor=model_cfg.get('data_preprocessor'),
        head=dict(
            type='mmpretrain.ContrastiveHead',
            loss=dict(type='mmpretrain.CrossEntropyLoss'),
            temperature=0.2))
    return {
        'mmpretrain DenseCL':
        dict(
            type='mmpretrain.DenseCL',
            loss_lambda=0.5,
            neck=dict(
                type='mmpretrain.DenseCLNeck',
                in_channels=in_channels,
                hid_channels=hid_channels,
                out_channels=feat_dim,
                num_grid=None),
            **copy.deepcopy(common)),
        'mmpretrain MoCo v2':
        dict(
            type='mmpretrain.MoCo',
            neck=dict(
                type='mmpretrain.MoCoV2Neck',
                in_channels=in_channels,
                hid_channels=hid_channels,
                out_channels=feat_dim,
                with_avg_pool=True),
            **copy.deepcopy(common)),
    }


def _to_channels_last(module: nn.Module, args, output: dict) -> dict:
    output['inputs'] = [
        x.contiguous(memory_format=torch.channels_last)
        for x in output['inputs']
    ]
    return output


class Candidate:
    """A model, its optimizer wrapper and its fixed batch."""

    def __init__(self, name: str, model_cfg: dict, optim_cfg: dict,
                 data: dict, device: str, precision: str,
                 channels_last: bool) -> None:
        self.name = name
        self.data = data
        self.num_images = data['inputs'][0].shape[0]
        self.num_views = len(data['inputs'])
        self.model = MODELS.build(copy.deepcopy(model_cfg))
        self.model.init_weights()
        self.model.to(device)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.model.data_preprocessor.register_forward_hook(
                _to_channels_last)
        self.model.train()
        optim_cfg = copy.deepcopy(optim_cfg)
        if precision != 'fp32':
            optim_cfg['type'] = 'MixedPrecisionOptimWrapper'
            optim_cfg['dtype'] = AMP_DTYPES[precision]
        self.optim_wrapper = build_optim_wrapper(self.model, optim_cfg)
        self.times: List[float] = []
        self.peak_bytes: List[int] = []

    def step(self) -> Dict[str, torch.Tensor]:
        return self.model.train_step(self.data, self.optim_wrapper)

    def persistent_bytes(self) -> int:
        """Bytes of parameters, buffers and optimizer state."""
        tensors = itertools.chain(
            self.model.parameters(), self.model.buffers(),
            (v for state in self.optim_wrapper.optimizer.state.values()
             for v in state.values() if isinstance(v, torch.Tensor)))
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                    for t in tensors}
        return sum(storages.values())


# ---------------------------------------------------------------- timing
def _make_timer(device: str) -> Callable[[Callable], float]:
    """Seconds one call takes (CUDA events on a GPU)."""
    if device.startswith('cuda'):

        def timed(fn: Callable) -> float:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            torch.cuda.reset_peak_memory_stats()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1000

        return timed

    def timed(fn: Callable) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return timed


def cpu_peak_growth(step: Callable) -> int:
    """Largest growth of allocated CPU memory during one call, in bytes,
    from the profiler's allocation and free events in time order."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        step()
    events = sorted((e for e in p.profiler.kineto_results.events()
                     if e.name() == '[memory]'),
                    key=lambda e: e.start_ns())
    running = itertools.accumulate(e.nbytes() for e in events)
    return max(itertools.chain([0], running))


def write_profile(cand: Candidate, out_dir: str, rows: int = 25) -> str:
    """torch.profiler table (operators by self CPU time) of one step."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        cand.step()
    table = prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=rows)
    path = osp.join(out_dir, f"profile_{cand.name.replace(' ', '_')}.txt")
    os.makedirs(out_dir, exist_ok=True)
    with open(path, 'w') as f:
        f.write(table)
    return path


def run_group(candidates: Sequence[Candidate], rounds: int, warmup: int,
              device: str) -> None:
    """Step the models in turn; fill ``times`` and ``peak_bytes``."""
    timed = _make_timer(device)
    for cand in candidates:
        for _ in range(warmup):
            cand.step()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    for r in range(rounds):
        print(f'round {r + 1}/{rounds}', flush=True)
        shift = r % len(candidates)
        for cand in candidates[shift:] + candidates[:shift]:
            cand.times.append(timed(cand.step))
            if device.startswith('cuda'):
                cand.peak_bytes.append(torch.cuda.max_memory_allocated())
    if not device.startswith('cuda'):
        for cand in candidates:
            cand.peak_bytes.append(cand.persistent_bytes() +
                                   cpu_peak_growth(cand.step))


def summarise(candidates: Sequence[Candidate]) -> List[dict]:
    """Medians of per-round ratios against the references (and against the
    project's DenseCL when it is in the group)."""
    by_name = {c.name: c for c in candidates}
    baselines = list(REFERENCES)
    ours = next((c.name for c in candidates if c.name.startswith('densecl_')),
                None)
    if ours is not None:
        baselines.append(ours)
    rows = []
    for cand in candidates:
        median_s = statistics.median(cand.times)
        row = dict(
            name=cand.name,
            images=cand.num_images,
            views=cand.num_views,
            ms_per_step=1000 * median_s,
            ms_per_source_image=1000 * median_s / cand.num_images,
            images_per_s=cand.num_images / median_s,
            peak_mib=max(cand.peak_bytes) / 2**20,
            ratios={})
        for base in baselines:
            ref = by_name[base]
            row['ratios'][base] = statistics.median(
                t / t_ref for t, t_ref in zip(cand.times, ref.times))
        row['memory_ratios'] = {
            base: max(cand.peak_bytes) / max(by_name[base].peak_bytes)
            for base in baselines
        }
        rows.append(row)
    return rows


def markdown(results: List[dict]) -> str:
    lines = []
    for group in results:
        s = group['setting']
        lines.append(
            f"### {s['backbone']}, {s['view_size']} px views, batch "
            f"{s['batch']}, {s['device']}, {s['precision']}, channels_last "
            f"{s['channels_last']}, with_cp {s['with_cp']}, "
            f"{s['rounds']} rounds")
        lines.append('')
        bases = list(group['rows'][0]['ratios'])
        lines.append('| model | views | ms / step | ms / source image | '
                     'images / s | peak MiB | ' +
                     ' | '.join(f'time vs {b}' for b in bases) + ' | ' +
                     ' | '.join(f'memory vs {b}' for b in bases) + ' |')
        lines.append('| --- ' * (6 + 2 * len(bases)) + '|')
        for row in group['rows']:
            lines.append(
                f"| {row['name']} | {row['views']} | {row['ms_per_step']:.0f}"
                f" | {row['ms_per_source_image']:.1f} | "
                f"{row['images_per_s']:.1f} | {row['peak_mib']:.0f} | " +
                ' | '.join(f"{row['ratios'][b]:.3f}" for b in bases) + ' | ' +
                ' | '.join(f"{row['memory_ratios'][b]:.2f}" for b in bases) +
                ' |')
        lines.append('')
    return '\n'.join(lines)


# ---------------------------------------------------------------- main
def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    # Quiet mmengine's per-parameter init_weights report.
    MMLogger.get_instance('benchmark', log_level='WARNING')
    init_default_scope('dense_contrast')
    # Schedules that read the run length (MCL's cosine momentum) see this
    # benchmark's steps as the whole run.
    MessageHub.get_current_instance().update_info(
        'max_iters', args.warmup + args.rounds + 1)
    torch.manual_seed(args.seed)
    prepared = []  # (name, cfg, data, setting key)
    for spec in args.configs:
        path, own_options = split_config_spec(spec)
        cfg = Config.fromfile(path)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfg.merge_from_dict(own_options)
        for key in ('model', 'optim_wrapper'):
            if key not in cfg:
                raise KeyError(f'{path}: no {key!r} in the config')
        data = make_batch(cfg, _batch_size(cfg, args.batch),
                          args.source_size, args.seed)
        depth = cfg.model.get('backbone', {}).get('depth')
        key = (depth, tuple(data['inputs'][0].shape[-2:]),
               data['inputs'][0].shape[0])
        name = osp.splitext(osp.basename(path))[0] + ''.join(
            f' {k.split(".")[-1]}={v}' for k, v in own_options.items())
        prepared.append((name, cfg, data, key))

    results = []
    variants = itertools.product(args.precision, args.channels_last,
                                 args.with_cp)
    for precision, channels_last, with_cp in variants:
        groups: Dict[tuple, list] = {}
        for item in prepared:
            groups.setdefault(item[3], []).append(item)
        for (depth, view_size, batch), items in groups.items():
            candidates = []
            first_cfg, first_data = items[0][1], items[0][2]
            ref_data = dict(
                inputs=first_data['inputs'][:2],
                data_samples=first_data['data_samples'])
            model_cfgs = [(name, cfg.model.to_dict(), cfg.optim_wrapper,
                           data) for name, cfg, data, _ in items]
            for name, ref_cfg in reference_cfgs(
                    first_cfg.model.to_dict()).items():
                model_cfgs.append(
                    (name, ref_cfg, first_cfg.optim_wrapper, ref_data))
            for name, model_cfg, optim_cfg, data in model_cfgs:
                model_cfg['backbone']['with_cp'] = with_cp == 'on'
                candidates.append(
                    Candidate(name, model_cfg, optim_cfg.to_dict()
                              if hasattr(optim_cfg, 'to_dict') else optim_cfg,
                              _to_device(data, args.device), args.device,
                              precision, channels_last == 'on'))
            run_group(candidates, args.rounds, args.warmup, args.device)
            if args.profile:
                for cand in candidates:
                    print('wrote', write_profile(cand, args.out_dir))
            setting = dict(
                backbone=f'ResNet-{depth}',
                view_size=list(view_size),
                batch=batch,
                device=args.device,
                precision=precision,
                channels_last=channels_last,
                with_cp=with_cp,
                rounds=args.rounds,
                threads=torch.get_num_threads())
            results.append(dict(setting=setting, rows=summarise(candidates)))
            print(markdown(results[-1:]), flush=True)
            del candidates

    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'benchmark.json'), 'w') as f:
        json.dump(dict(command=' '.join(sys.argv), results=results), f,
                  indent=2)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(markdown(results))
    print(f'wrote {args.out_dir}/benchmark.md and benchmark.json')
    return results


def _to_device(data: dict, device: str) -> dict:
    return dict(
        inputs=[x.to(device) for x in data['inputs']],
        data_samples=data['data_samples'])


if __name__ == '__main__':
    main()
