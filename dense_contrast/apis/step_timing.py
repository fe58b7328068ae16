"""One model's training step on a fixed batch: inputs, timing, memory.

The pieces of :mod:`.benchmark`: :func:`make_batch` feeds a config's own
train pipeline with synthetic toy-scene images, :class:`Candidate` holds a
model built as the Runner builds it, :func:`run_group` steps several in
turn and records their times and peak memory (on the CPU from the
profiler's allocation events, on CUDA from
``torch.cuda.max_memory_allocated``).
"""
import copy
import itertools
import os
import os.path as osp
import random
import time
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from torch import nn

from dense_contrast.datasets import render_scene
from dense_contrast.models.utils import mocov2_cfg
from dense_contrast.registry import MODELS, TRANSFORMS

REFERENCES = ('mmpretrain DenseCL', 'mmpretrain MoCo v2')
AMP_DTYPES = {'bf16': 'bfloat16', 'fp16': 'float16'}


# ---------------------------------------------------------------- inputs
def make_batch(cfg: Config, batch_size: int, source_size: int,
               seed: int) -> dict:
    """One collated batch from a config's train pipeline on synthetic images.

    Toy-scene images (BGR uint8, as ``LoadImageFromFile`` gives) go through
    the config's train pipeline, its image loading transform dropped.

    Args:
        cfg (Config): A pretraining config.
        batch_size (int): Images N.
        source_size (int): Side of the synthetic images.
        seed (int): Seed of the images and of the random transforms.

    Returns:
        dict: ``inputs`` (list of V tensors of shape (N, 3, H, W), uint8)
        and ``data_samples``, as a dataloader yields them.

    Raises:
        KeyError: If the config has no train pipeline.
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


# ---------------------------------------------------------------- models
def reference_cfgs(model_cfg: dict) -> Dict[str, dict]:
    """mmpretrain's DenseCL and MoCo v2 sized like a method's model.

    Args:
        model_cfg (dict): The method's model config; its backbone depth
            and widths (``base_channels``, ``stem_channels``), queue length
            K, projection size D and hidden width are used.

    Returns:
        dict[str, dict]: Name (:data:`REFERENCES`) -> model config.
    """
    method_backbone = model_cfg['backbone']
    base_channels = method_backbone.get('base_channels', 64)
    backbone = dict(
        type='mmpretrain.ResNet',
        depth=method_backbone.get('depth', 50),
        base_channels=base_channels,
        # mmpretrain's default stem is 64 wide whatever the base width.
        stem_channels=method_backbone.get('stem_channels') or 64,
        out_indices=(3, ),
        zero_init_residual=False,
        with_cp=method_backbone.get('with_cp', False))
    # Channels of the last stage: 8 x the base width for basic blocks,
    # 32 x for bottlenecks (512 and 2048 at the standard width).
    in_channels = base_channels * (8 if backbone['depth'] in (18, 34) else 32)
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
            mocov2_cfg(
                copy.deepcopy(backbone), in_channels, hid_channels, feat_dim,
                common['queue_len']),
            data_preprocessor=model_cfg.get('data_preprocessor')),
    }


def _to_channels_last(module: nn.Module, args, output: dict) -> dict:
    output['inputs'] = [
        x.contiguous(memory_format=torch.channels_last)
        for x in output['inputs']
    ]
    return output


def to_device(data: dict, device: str) -> dict:
    """A batch of :func:`make_batch` on a device.

    Args:
        data (dict): ``inputs`` (list of V tensors (N, 3, H, W)) and
            ``data_samples``.
        device (str): The device.

    Returns:
        dict: The same batch, its inputs moved.
    """
    return dict(
        inputs=[x.to(device) for x in data['inputs']],
        data_samples=data['data_samples'])


class Candidate:
    """A model, its optimizer wrapper and its fixed batch.

    Args:
        name (str): Name in the table.
        model_cfg (dict): The model config.
        optim_cfg (dict): The optimizer wrapper config.
        data (dict): A batch of :func:`make_batch` (on ``device``).
        device (str): ``'cpu'`` or ``'cuda'``.
        precision (str): ``'fp32'``, or ``'bf16'`` / ``'fp16'`` under
            ``MixedPrecisionOptimWrapper``.
        channels_last (bool): Model and inputs in channels-last memory
            format.
    """

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
        """One ``train_step`` on the fixed batch.

        Returns:
            dict[str, torch.Tensor]: The logged losses.
        """
        return self.model.train_step(self.data, self.optim_wrapper)

    def persistent_bytes(self) -> int:
        """Bytes of parameters, buffers and optimizer state.

        Returns:
            int: The bytes, each storage counted once.
        """
        tensors = itertools.chain(
            self.model.parameters(), self.model.buffers(),
            (v for state in self.optim_wrapper.optimizer.state.values()
             for v in state.values() if isinstance(v, torch.Tensor)))
        storages = {
            t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
            for t in tensors
        }
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
    """Largest growth of allocated CPU memory during one call.

    From the profiler's allocation and free events in time order.

    Args:
        step (Callable): The call.

    Returns:
        int: Bytes.
    """
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        step()
    events = sorted((e for e in p.profiler.kineto_results.events()
                     if e.name() == '[memory]'),
                    key=lambda e: e.start_ns())
    running = itertools.accumulate(e.nbytes() for e in events)
    return max(itertools.chain([0], running))


def write_profile(cand: Candidate, out_dir: str, rows: int = 25) -> str:
    """torch.profiler table (operators by self CPU time) of one step.

    Args:
        cand (Candidate): The model to step.
        out_dir (str): Folder of ``profile_<name>.txt``.
        rows (int): Operators listed. Defaults to 25.

    Returns:
        str: The written file.
    """
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
    """Step the models in turn; fill their ``times`` and ``peak_bytes``.

    Args:
        candidates (list[Candidate]): Models of one setting.
        rounds (int): Timed rounds (the order rotates each round).
        warmup (int): Untimed steps per model first.
        device (str): ``'cpu'`` or ``'cuda'``.
    """
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
