"""What the small study runs: its settings (:class:`StudySettings`, the
options of ``tools/study.py``), the toy scenes it reads, the probes' settings
and the config written for each pretraining run (the method's toy config
with the study's equal budget and a :class:`DenseProbeHook`).
:mod:`.study` runs the units.
"""
import dataclasses
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config

from dense_contrast.datasets import ensure_toyscenes
from .runner import REPO_ROOT, RunError
from .study_report import METHODS

#: The study's downstream configs, both scored on the test split and both
#: reading the backbone as it was pretrained (undilated, the 128 px scenes
#: at 256 px): the toy FCN with the backbone frozen (a linear head on C5)
#: and the low-label fine-tune (every weight trained on 5 % of the training
#: labels, at the learning rates of :data:`TRANSFER_LRS`). The full
#: fine-tune is left out of the default: one run takes about 45 minutes on
#: a CPU thread, so three seeds of eight starts would take longer than the
#: rest of the study.
TRANSFER_CONFIGS = [
    'configs/benchmarks/mmsegmentation/'
    'fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py',
    'configs/benchmarks/mmsegmentation/'
    'fcn_r18_1xb8-1000i_toyscenes-5pct-256x256.py',
]

#: Per-config overrides of the study's transfers (on top of the config's
#: own settings; ``transfer_cfg_options`` comes after): config name ->
#: options. Empty: the protocol configs run as they are.
STUDY_TRANSFER_OPTIONS: Dict[str, Dict[str, object]] = {}

#: Learning rates the study tries for a downstream config (config name ->
#: rates); each run takes the rate its val score chooses, and reports that
#: run's test score (:func:`.study.transfer`). For the 5 % fine-tune,
#: mmseg's 0.01 leaves every start near the all-background floor after its
#: 1,000 iterations; swept on val (seed 0: 0.01 to 1.6 for random init,
#: 0.2 to 0.8 for MoCo v2 and DenseCL) the best rates were 0.8 (random
#: init, DenseCL; the config's rate) and 0.4 (MoCo v2), every start lower
#: at 0.2 and random init falling apart at 1.6 (docs/evaluation.md).
TRANSFER_LRS: Dict[str, List[float]] = {
    'fcn_r18_1xb8-1000i_toyscenes-5pct-256x256': [0.4, 0.8],
}

#: Methods of the study by default: all of them. MCL is the costliest: a
#: toy step (eight 160 px views of each of 32 images) is about four
#: DenseCL steps on a CPU with the toy config's ``head_on_used_windows``
#: and ``fpn_on_used_levels`` (docs/performance.md).
DEFAULT_METHODS = list(METHODS)


@dataclasses.dataclass
class StudySettings:
    """What the study runs; the fields are ``tools/study.py``'s options.

    Args:
        work_dir (str): Folder of every run and of the table. Defaults to
            ``'work_dirs/study'``.
        methods (list[str]): Keys of :data:`METHODS`. Defaults to
            :data:`DEFAULT_METHODS`.
        seeds (list[int]): Pretraining seeds. Defaults to [0, 1, 2].
        data_root (str, optional): Toy scenes folder. Defaults to None:
            ``data/toyscenes`` (with ``quick``: a tiny one in ``work_dir``).
        epochs (int): Pretraining epochs. Defaults to 20 (the toy configs'
            own schedule and ``make demo``'s; 8 and 12 epochs left DenseCL
            inside the seed spread of random init).
        num_images (int): Pretraining images (the first ones of train).
            Defaults to 2000 (the whole toy train split).
        batch_size (int): Images per step. Defaults to 32.
        queue_len (int): Queue length K. Defaults to 256 (the toy scale;
            under the number of images, so no image meets its own earlier
            keys among its negatives).
        probe_interval (int): Epochs between probes. Defaults to 5.
        probe_train (int): Probe fitting images (train split). Defaults
            to 200.
        probe_val (int): Probe scoring images (test split). Defaults to
            200.
        no_transfer (bool): Skip the transfers. Defaults to False.
        transfer_configs (list[str]): Downstream configs. Defaults to
            :data:`TRANSFER_CONFIGS`.
        transfer_seeds (list[int], optional): Seeds whose transfers run.
            Defaults to None (every seed).
        transfer_cfg_options (dict): Overrides of every transfer run.
            Defaults to {}.
        transfer_lrs (dict[str, list[float]]): Config name (file name
            without ``.py``) -> learning rates to run it at; each unit
            reports the test score of the rate that scores best on val.
            A config not named, or named with None, runs at its own rate.
            Defaults to :data:`TRANSFER_LRS`.
        finished_only (bool): Run nothing; tabulate the units (and
            transfers) already finished in ``work_dir``. Defaults to False.
        quick (bool): Tiny settings for a smoke test (2 epochs of 8 images
            of 64 px, batch 4, K = 16, probes every epoch on 8 / 2
            images, no transfers); they replace the sizes given. Defaults
            to False.

    Raises:
        ValueError: If a size is below 1 (named as its option).
    """
    work_dir: str = 'work_dirs/study'
    methods: List[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_METHODS))
    seeds: List[int] = dataclasses.field(default_factory=lambda: [0, 1, 2])
    data_root: Optional[str] = None
    epochs: int = 20
    num_images: int = 2000
    batch_size: int = 32
    queue_len: int = 256
    probe_interval: int = 5
    probe_train: int = 200
    probe_val: int = 200
    no_transfer: bool = False
    transfer_configs: List[str] = dataclasses.field(
        default_factory=lambda: list(TRANSFER_CONFIGS))
    transfer_seeds: Optional[List[int]] = None
    transfer_cfg_options: Dict[str, object] = dataclasses.field(
        default_factory=dict)
    transfer_lrs: Dict[str, List[float]] = dataclasses.field(
        default_factory=lambda: {k: list(v)
                                 for k, v in TRANSFER_LRS.items()})
    finished_only: bool = False
    quick: bool = False

    def __post_init__(self) -> None:
        if self.quick:
            self.epochs, self.num_images, self.batch_size = 2, 8, 4
            self.queue_len, self.probe_train, self.probe_val = 16, 8, 2
            self.probe_interval = 1
            self.no_transfer = True
        for name in ('epochs', 'num_images', 'batch_size', 'queue_len',
                     'probe_interval', 'probe_train', 'probe_val'):
            if getattr(self, name) < 1:
                raise ValueError(f'--{name.replace("_", "-")} must be >= 1')
        self.transfer_lrs = {
            name: list(lrs) if isinstance(lrs, (list, tuple)) else [lrs]
            for name, lrs in self.transfer_lrs.items() if lrs is not None
        }
        for name, lrs in self.transfer_lrs.items():
            if not all(isinstance(lr, (int, float)) and lr > 0
                       for lr in lrs):
                raise ValueError(
                    f'--transfer-lrs {name}: expected positive learning '
                    f'rates, e.g. {name}=0.4,0.8; got {lrs}')


def study_data_root(settings: StudySettings) -> str:
    """The toy scenes folder of a study, generated when missing.

    Args:
        settings (StudySettings): The study.

    Returns:
        str: ``settings.data_root``; else, with ``quick``, a tiny set in
        ``<work_dir>/toyscenes``; else ``data/toyscenes``.
    """
    if settings.data_root is not None:
        root = settings.data_root
        if not osp.isfile(osp.join(root, 'meta.json')):
            ensure_toyscenes(root)
    elif settings.quick:
        root = osp.join(settings.work_dir, 'toyscenes')
        ensure_toyscenes(root, num_train=16, num_val=4, num_test=4,
                         img_size=64, progress=False)
    else:
        root = 'data/toyscenes'
        ensure_toyscenes(root)
    return root


def probe_settings(settings: StudySettings, data_root: str) -> dict:
    """Arguments of DenseProbeSuite / DenseProbeHook shared by all runs.

    The probes of ``make demo`` (chosen on the val split, see
    docs/evaluation.md): layer3 of the toy backbone with the 128 px images
    read at 256 px (a 16x16 grid), a linear probe, a k-NN probe (k = 5)
    and the dense correspondence probe, fitted on train images and scored
    on the held-out test split.
    """
    probe = dict(
        data_root=osp.abspath(data_root),
        stage=2,
        val_split='test',
        num_train=settings.probe_train,
        num_val=settings.probe_val)
    if settings.quick:  # 64 px images as they are (a 4x4 grid at layer3)
        probe.update(probes=[
            dict(type='DenseLinearProbe', steps=20),
            dict(type='DenseKNNProbe', k=5),
            dict(type='DenseCorrespondenceProbe', num_pairs=8)
        ])
    else:
        probe.update(img_scale=256, probes=[
            dict(type='DenseLinearProbe'),
            dict(type='DenseKNNProbe', k=5),
            dict(type='DenseCorrespondenceProbe', view_size=256,
                 photometric=True)
        ])
    return probe


def toy_backbone_cfg() -> dict:
    """The backbone of the random-init runs: DenseCL's toy backbone as its
    config builds it (the toy ResNet-18 of
    ``configs/_base_/models/toy_resnet18.py``, residual blocks not started
    at zero as in every method's config), i.e. a pretraining run before its
    first step.

    Returns:
        dict: ``ResNet`` arguments (no ``type``, no ``out_indices``).
    """
    cfg = Config.fromfile(osp.join(REPO_ROOT, METHODS['densecl'][1]))
    backbone = dict(cfg.model.backbone)
    for key in ('type', 'out_indices'):
        backbone.pop(key, None)
    return backbone


def study_config(config: str, settings: StudySettings, seed: int,
                 data_root: str, run_dir: str) -> str:
    """Write the config of one pretraining run and return its path.

    The method's toy config with the study's equal budget: data, images,
    batch, epochs (schedulers rescaled), queue length, seed, checkpoints
    only at the end, and the probe hook.

    Args:
        config (str): The method's toy config.
        settings (StudySettings): The study.
        seed (int): The run's seed.
        data_root (str): The toy scenes folder.
        run_dir (str): The run's work dir (``study_config.py`` goes there).

    Returns:
        str: The written config.

    Raises:
        RunError: If a scheduler ends past the study's epochs.
    """
    cfg = Config.fromfile(config)
    with open(osp.join(data_root, 'meta.json')) as f:
        meta = json.load(f)
    old_epochs = cfg.train_cfg.max_epochs
    dataset = cfg.train_dataloader.dataset
    dataset.update(
        data_root=osp.abspath(data_root),
        indices=settings.num_images,
        **{k: meta[k]
           for k in ('num_train', 'num_val', 'num_test', 'img_size', 'seed')})
    cfg.train_dataloader.batch_size = settings.batch_size
    if settings.quick:
        cfg.train_dataloader.num_workers = 0
        cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg.max_epochs = settings.epochs
    for sched in cfg.get('param_scheduler', None) or []:
        if sched.get('end') == old_epochs:
            sched.end = settings.epochs
            if 'T_max' in sched:
                sched.T_max = settings.epochs - sched.get('begin', 0)
        elif sched.get('end', 0) >= settings.epochs:
            raise RunError(
                f'{config}: a scheduler ends at epoch {sched.end}, past '
                f'the study\'s {settings.epochs} epochs')
    if 'queue_len' in cfg.model:
        cfg.model.queue_len = settings.queue_len
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(
            type='DenseProbeHook',
            interval=settings.probe_interval,
            **probe_settings(settings, data_root))
    ]
    os.makedirs(run_dir, exist_ok=True)
    path = osp.join(run_dir, 'study_config.py')
    cfg.dump(path)
    return path
