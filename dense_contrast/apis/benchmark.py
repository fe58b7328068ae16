"""Training-step time and memory against mmpretrain's DenseCL and MoCo v2.

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
"""
import glob
import itertools
import json
import os
import os.path as osp
import re
import statistics
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope

from .runner import REPO_ROOT
from .step_timing import (REFERENCES, Candidate, make_batch, reference_cfgs,
                          run_group, to_device, write_profile)

DEFAULT_CONFIG_PATTERNS = ('configs/*/*_resnet50_*.py',
                           'configs/*/*_toyscenes.py')


def default_configs() -> List[str]:
    """Every method's R50 and toy config of the source checkout.

    Returns:
        list[str]: Paths relative to :data:`.runner.REPO_ROOT`.
    """
    found = itertools.chain.from_iterable(
        sorted(glob.glob(osp.join(REPO_ROOT, p)))
        for p in DEFAULT_CONFIG_PATTERNS)
    return [osp.relpath(p, REPO_ROOT) for p in found]


def _parse_option_value(text: str) -> object:
    """A ``--cfg-options`` value as mmengine reads it.

    mmengine 0.10.7 keeps the parser of ``DictAction`` private
    (``_parse_iterable``); it is reused so that a ``CONFIG:key=value``
    override means what ``--cfg-options key=value`` means.
    """
    return DictAction._parse_iterable(text)


def split_config_spec(spec: str) -> Tuple[str, dict]:
    """Split ``CONFIG[:key=value,key=value]`` into a path and its overrides.

    Args:
        spec (str): A config path, optionally with its own overrides
            (values parsed as on mmengine's ``--cfg-options``).

    Returns:
        tuple[str, dict]: The config path and its overrides.

    Raises:
        ValueError: If an override is not ``key=value``.
    """
    path, _, options = spec.partition('.py:')
    if not options:
        return spec, {}
    overrides = {}
    for item in re.split(r',(?=[\w.]+=)', options):
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(f'{spec}: expected CONFIG.py:key=value[,...], '
                             f'got {item!r}')
        overrides[key] = _parse_option_value(value)
    return path + '.py', overrides


# ---------------------------------------------------------------- results
def summarise(candidates: Sequence[Candidate]) -> List[dict]:
    """Medians of per-round ratios against the references.

    Also against the project's DenseCL when it is in the group.

    Args:
        candidates (list[Candidate]): Models stepped by :func:`run_group`.

    Returns:
        list[dict]: One row per model: step time, throughput, peak memory
        and their ``ratios`` / ``memory_ratios`` to each baseline.
    """
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
    """One Markdown table per setting.

    Args:
        results (list[dict]): ``setting`` and ``rows`` (:func:`summarise`)
            per group.

    Returns:
        str: Markdown text.
    """
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
def _prepare(configs: Sequence[str], batch: Optional[int], source_size: int,
             seed: int, cfg_options: Optional[dict]) -> list:
    """(name, cfg, batch data, setting key) of every config spec."""
    prepared = []
    for spec in configs:
        path, own_options = split_config_spec(spec)
        cfg = Config.fromfile(path)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        cfg.merge_from_dict(own_options)
        for key in ('model', 'optim_wrapper'):
            if key not in cfg:
                raise KeyError(f'{path}: no {key!r} in the config')
        data = make_batch(cfg, batch or cfg.train_dataloader.batch_size,
                          source_size, seed)
        depth = cfg.model.get('backbone', {}).get('depth')
        key = (depth, tuple(data['inputs'][0].shape[-2:]),
               data['inputs'][0].shape[0])
        name = osp.splitext(osp.basename(path))[0] + ''.join(
            f' {k.split(".")[-1]}={v}' for k, v in own_options.items())
        prepared.append((name, cfg, data, key))
    return prepared


def run_benchmark(configs: Sequence[str],
                  batch: Optional[int] = None,
                  rounds: int = 10,
                  warmup: int = 2,
                  device: str = 'cpu',
                  precision: Sequence[str] = ('fp32', ),
                  channels_last: Sequence[str] = ('off', ),
                  with_cp: Sequence[str] = ('off', ),
                  profile: bool = False,
                  source_size: int = 256,
                  seed: int = 0,
                  out_dir: str = 'work_dirs/benchmark',
                  cfg_options: Optional[dict] = None,
                  command: Optional[str] = None) -> List[dict]:
    """Measure every config with the references; write the tables.

    Each group's table is printed as it is measured; ``benchmark.md`` and
    ``benchmark.json`` go to ``out_dir``.

    Args:
        configs (list[str]): Config specs (:func:`split_config_spec`).
        batch (int, optional): Images N per step for every config. Defaults
            to None: each config's ``train_dataloader.batch_size``.
        rounds (int): Timed rounds. Defaults to 10.
        warmup (int): Untimed steps per model first. Defaults to 2.
        device (str): ``'cpu'`` or ``'cuda'``. Defaults to ``'cpu'``.
        precision (list[str]): Among ``'fp32'``, ``'bf16'``, ``'fp16'``.
            Defaults to ('fp32', ).
        channels_last (list[str]): Among ``'off'``, ``'on'``. Defaults to
            ('off', ).
        with_cp (list[str]): Backbone gradient checkpointing, among
            ``'off'``, ``'on'``. Defaults to ('off', ).
        profile (bool): Also write a profiler table of one step per model.
            Defaults to False.
        source_size (int): Side of the synthetic images. Defaults to 256.
        seed (int): Seed of the batch and of the models. Defaults to 0.
        out_dir (str): Output folder. Defaults to ``'work_dirs/benchmark'``.
        cfg_options (dict, optional): Overrides of every config. Defaults
            to None.
        command (str, optional): Command recorded in the JSON. Defaults to
            None: this process's command line.

    Returns:
        list[dict]: Per setting: ``setting`` and ``rows``.
    """
    # Quiet mmengine's per-parameter init_weights report.
    MMLogger.get_instance('benchmark', log_level='WARNING')
    init_default_scope('dense_contrast')
    # Schedules that read the run length (MCL's cosine momentum) see this
    # benchmark's steps as the whole run.
    MessageHub.get_current_instance().update_info('max_iters',
                                                  warmup + rounds + 1)
    torch.manual_seed(seed)
    prepared = _prepare(configs, batch, source_size, seed, cfg_options)

    results = []
    for prec, layout, checkpointing in itertools.product(
            precision, channels_last, with_cp):
        groups: Dict[tuple, list] = {}
        for item in prepared:
            groups.setdefault(item[3], []).append(item)
        for (depth, view_size, group_batch), items in groups.items():
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
                model_cfg['backbone']['with_cp'] = checkpointing == 'on'
                candidates.append(
                    Candidate(name, model_cfg, optim_cfg.to_dict()
                              if hasattr(optim_cfg, 'to_dict') else optim_cfg,
                              to_device(data, device), device, prec,
                              layout == 'on'))
            run_group(candidates, rounds, warmup, device)
            if profile:
                for cand in candidates:
                    print('wrote', write_profile(cand, out_dir))
            setting = dict(
                backbone=f'ResNet-{depth}',
                view_size=list(view_size),
                batch=group_batch,
                device=device,
                precision=prec,
                channels_last=layout,
                with_cp=checkpointing,
                rounds=rounds,
                threads=torch.get_num_threads())
            results.append(dict(setting=setting, rows=summarise(candidates)))
            print(markdown(results[-1:]), flush=True)
            del candidates

    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'benchmark.json'), 'w') as f:
        json.dump(
            dict(
                command=' '.join(sys.argv) if command is None else command,
                results=results), f, indent=2)
    with open(osp.join(out_dir, 'benchmark.md'), 'w') as f:
        f.write(markdown(results))
    print(f'wrote {out_dir}/benchmark.md and benchmark.json')
    return results
