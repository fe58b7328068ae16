"""Pretraining with mmengine's Runner: the work behind ``tools/train.py``.

:func:`merge_train_options` applies the command-line options to a config;
:func:`run_training` checks the result (``dense_contrast.preflight``) and
runs it.
"""
import importlib.util
import inspect
import os.path as osp
from typing import Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from dense_contrast.engine import SafeCheckpointHook
from dense_contrast.preflight import ConfigValidationError, preflight_check
from dense_contrast.registry import HOOKS

#: Logged when :func:`ensure_safe_checkpoint_hook` adds the hook.
SAFE_HOOK_ADDED = (
    'SafeCheckpointHook added to custom_hooks: the config lists no hook '
    'of that type (a config that sets custom_hooks replaces the list of '
    'its base, configs/_base_/default_runtime.py). Without it checkpoints '
    'do not load with weights_only=True, and --resume refuses them.')


#: ``--vis`` names -> (mmengine visualisation backend, module it needs).
VIS_BACKENDS = {
    'tensorboard': ('TensorboardVisBackend', 'tensorboard'),
    'wandb': ('WandbVisBackend', 'wandb'),
}


def add_vis_backends(cfg: Config, names: Union[str, Sequence[str]]) -> list:
    """Add TensorBoard and/or W&B logging to a config's visualizer, in place.

    The backends are appended to ``visualizer.vis_backends``; the ones the
    config has stay, ``LocalVisBackend`` included (its ``scalars.json`` is
    what the probe tables and curves read). A backend already listed is not
    added twice. A config without a ``visualizer`` gets mmengine's default
    one with a ``LocalVisBackend`` first.

    Args:
        cfg (Config): The config, changed in place.
        names (str | Sequence[str]): Keys of :data:`VIS_BACKENDS`
            (``'tensorboard'``, ``'wandb'``); a string may list several,
            comma-separated.

    Returns:
        list[str]: The backend types added.

    Raises:
        ConfigValidationError: If a name is unknown, or its package is not
            installed (naming the pip package).
    """
    if isinstance(names, str):
        names = [n for n in names.split(',')]
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    for name in names:
        if name not in VIS_BACKENDS:
            raise ConfigValidationError(
                f'--vis {name}: unknown visualisation backend; expected one '
                f'of {", ".join(VIS_BACKENDS)}')
        module = VIS_BACKENDS[name][1]
        if importlib.util.find_spec(module) is None:
            raise ConfigValidationError(
                f'--vis {name}: the {module} package is not installed '
                f'(pip install {module})')
    visualizer = cfg.get('visualizer') or dict(
        type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    backends = list(visualizer.get('vis_backends') or [])
    present = {b.get('type') for b in backends if isinstance(b, dict)}
    added = []
    for name in names:
        backend_type = VIS_BACKENDS[name][0]
        if backend_type not in present:
            backends.append(dict(type=backend_type))
            present.add(backend_type)
            added.append(backend_type)
    visualizer['vis_backends'] = backends
    cfg.visualizer = visualizer
    return added


def merge_train_options(cfg: Config,
                        config: str,
                        work_dir: Optional[str] = None,
                        resume: Optional[str] = None,
                        amp: bool = False,
                        auto_scale_lr: bool = False,
                        cfg_options: Optional[dict] = None,
                        launcher: str = 'none',
                        vis: Sequence[str] = ()) -> Config:
    """Apply the options of ``tools/train.py`` to a config, in place.

    Args:
        cfg (Config): The config loaded from ``config``.
        config (str): The config file (default work dir, messages).
        work_dir (str, optional): Where logs and checkpoints go. Defaults to
            None: the config's ``work_dir``, else
            ``./work_dirs/<config name>``.
        resume (str, optional): ``'auto'`` to resume from the latest
            checkpoint in the work dir, or a checkpoint file. Defaults to
            None (no resuming).
        amp (bool): Mixed precision through ``MixedPrecisionOptimWrapper``
            (fp16 with loss scaling on a GPU, bf16 on the CPU). Defaults to
            False.
        auto_scale_lr (bool): Scale the learning rate by the actual global
            batch B (the config's ``auto_scale_lr`` gives the base). Defaults
            to False.
        cfg_options (dict, optional): Overrides, merged first. Defaults to
            None.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
            Without a GPU, a distributed launcher gets gloo and DDP without
            device ids. Defaults to ``'none'``.
        vis (Sequence[str]): Visualisation backends to add
            (:func:`add_vis_backends`: ``'tensorboard'``, ``'wandb'``).
            A top-level config key ``vis`` (``--cfg-options
            vis=tensorboard``, or a list) does the same and is removed from
            the config. Defaults to ().

    Returns:
        Config: ``cfg``, changed.

    Raises:
        ConfigValidationError: If the ``resume`` file does not exist,
            ``auto_scale_lr`` is asked for a config without an
            ``auto_scale_lr`` entry, or a ``vis`` backend is unknown or
            not installed.
    """
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)

    vis_names = list(vis or [])
    if 'vis' in cfg:
        from_cfg = cfg.pop('vis')
        vis_names += [from_cfg] if isinstance(from_cfg, str) else list(
            from_cfg or [])
    if vis_names:
        add_vis_backends(cfg, vis_names)

    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])

    if amp:
        # mmengine's AmpOptimWrapper refuses CPUs; this one picks fp16 with
        # loss scaling on a GPU and bf16 on the CPU.
        cfg.optim_wrapper.type = 'MixedPrecisionOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise ConfigValidationError(
                f'--resume {resume}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = resume

    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ConfigValidationError(
                f'--auto-scale-lr: {config} has no '
                "'auto_scale_lr = dict(base_batch_size=...)' entry")
        cfg.auto_scale_lr.enable = True

    if launcher != 'none' and not torch.cuda.is_available():
        # CPU processes: gloo instead of NCCL, and DDP without device ids.
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel')
        wrapper['device_ids'] = None
        cfg.model_wrapper_cfg = wrapper
    return cfg


def _is_safe_checkpoint_hook(hook: object) -> bool:
    """Whether a hook entry of a config builds a ``SafeCheckpointHook``.

    Args:
        hook (object): An entry of ``custom_hooks`` or a value of
            ``default_hooks``: a config dict (``type`` a name, scoped or
            not, or a class) or a built hook.

    Returns:
        bool: True for the hook or a subclass of it; False for anything
        else, including a type name the registry does not know (the
        pre-flight check reports those).
    """
    if isinstance(hook, SafeCheckpointHook):
        return True
    hook_type = hook.get('type') if isinstance(hook, dict) else None
    if isinstance(hook_type, str):
        try:
            hook_type = HOOKS.get(hook_type)
        except (KeyError, RuntimeError):  # unknown or unimportable name
            return False
    return inspect.isclass(hook_type) and issubclass(hook_type,
                                                     SafeCheckpointHook)


def ensure_safe_checkpoint_hook(cfg: Config) -> bool:
    """Add ``SafeCheckpointHook`` to ``custom_hooks`` when the config has none.

    In mmengine configs a child's ``custom_hooks`` replaces its base's
    list, so a config that adds its own hooks easily drops the one that
    keeps checkpoints loadable with ``weights_only=True``; its run then
    writes checkpoints that ``--resume`` refuses. The hook is looked for in
    ``custom_hooks`` and in ``default_hooks`` (by type, subclasses
    included) and appended to ``custom_hooks`` with its default arguments
    when absent.

    Args:
        cfg (Config): The merged config, changed in place.

    Returns:
        bool: True if the hook was added (callers log
        :data:`SAFE_HOOK_ADDED`), False if the config had it.
    """
    custom_hooks = list(cfg.get('custom_hooks') or [])
    default_hooks = cfg.get('default_hooks') or {}
    present = list(custom_hooks) + list(default_hooks.values())
    if any(_is_safe_checkpoint_hook(hook) for hook in present):
        return False
    cfg.custom_hooks = custom_hooks + [dict(type='SafeCheckpointHook')]
    return True


def init_cpu_process_group(cfg: Config) -> None:
    """Start the gloo process group of a CPU-only torchrun job.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device``
    unconditionally, which fails without a GPU; the Runner skips its own
    initialisation when a process group already exists.

    Args:
        cfg (Config): A config merged by :func:`merge_train_options`.
    """
    if (cfg.launcher == 'pytorch' and not torch.cuda.is_available()
            and not torch.distributed.is_initialized()):
        torch.distributed.init_process_group(
            backend=cfg.env_cfg.dist_cfg.backend, init_method='env://')


def run_training(cfg: Config,
                 config: Optional[str] = None,
                 cfg_options: Optional[dict] = None) -> Runner:
    """Check a merged config before any compute, then train it.

    ``SafeCheckpointHook`` is added when the config lacks it
    (:func:`ensure_safe_checkpoint_hook`, logged). Bad config keys or types,
    data, queue length or resume checkpoint are refused first
    (:func:`dense_contrast.preflight.preflight_check`).

    Args:
        cfg (Config): A config merged by :func:`merge_train_options`.
        config (str, optional): Its file (for messages). Defaults to None.
        cfg_options (dict, optional): The overrides it was merged with (for
            messages). Defaults to None.

    Returns:
        Runner: The runner, after training.

    Raises:
        ConfigValidationError: If a check fails; nothing was run.
        NonFiniteLossError: If a loss became NaN or infinite.
        TrainingInterrupted: On SIGTERM, after a checkpoint was written.
        KeyboardInterrupt: On Ctrl-C (the work since the last checkpoint is
            lost).
    """
    added_safe_hook = ensure_safe_checkpoint_hook(cfg)
    preflight_check(cfg, config, cfg_options)
    init_cpu_process_group(cfg)
    runner = Runner.from_cfg(cfg)
    if added_safe_hook:
        runner.logger.info(SAFE_HOOK_ADDED)
    runner.train()
    # Close gloo/NCCL before interpreter teardown: left to exit, gloo's
    # threads can abort a finished rank (SIGABRT, "terminate called"). The
    # barrier first: a rank that tore its group down while another was
    # still writing the last checkpoint aborted the same way on busy cores.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return runner
