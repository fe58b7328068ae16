"""High-level entry points behind the command-line tools.

Each tool in ``tools/`` parses its options and calls one of these:
``tools/train.py`` -> :func:`merge_train_options` and :func:`run_training`;
``tools/transfer.py`` -> :func:`run_transfer`; ``tools/study.py`` ->
:class:`StudySettings`, :func:`run_study` and :func:`report_study`;
``tools/analysis_tools/benchmark.py`` -> :func:`run_benchmark`;
``tools/analysis_tools/plot_curves.py`` -> :func:`plot_curves`;
``tools/analysis_tools/get_flops.py`` -> :func:`model_complexity`;
``tools/analysis_tools/visualize_dense.py`` -> :func:`load_model`,
:func:`source_image` and :func:`write_pictures`; ``tools/eval_dense.py`` ->
:func:`evaluate_checkpoints` and :func:`write_report`. Jobs that run in a
subprocess go through :func:`run_logged` (:mod:`.runner`).
"""
from .benchmark import default_configs, run_benchmark, split_config_spec
from .downstream import (finetune, pretrained_init_paths, read_metrics,
                         read_test_metrics, run_fingerprint, run_test)
from .runner import (REPO_ROOT, RunError, downstream_command,
                     format_cfg_options, last_checkpoint, package_script,
                     repo_path, run_logged, scalar_logs, train_command)
from .step_timing import Candidate, make_batch, reference_cfgs
from .study import probe_curve, report_study, run_study
from .study_report import METHODS, probe_table
from .study_settings import (DEFAULT_METHODS, STUDY_TRANSFER_OPTIONS,
                             TRANSFER_CONFIGS, StudySettings)
from .complexity import COMPLEXITY_PARTS, model_complexity
from .eval_dense import (DEFAULT_EVAL_PROBES, evaluate_checkpoints,
                         report_markdown, write_report)
from .curves import (CurveLogError, collect_curves, find_scalar_logs,
                     plot_curves, read_scalar_log)
from .train import (SAFE_HOOK_ADDED, VIS_BACKENDS, add_vis_backends,
                    ensure_safe_checkpoint_hook, init_cpu_process_group,
                    merge_train_options, run_training)
from .transfer import extract, run_transfer
from .transfer_report import markdown_table, mean_difference
from .visualize import load_model, source_image, write_pictures

__all__ = [
    # runner
    'REPO_ROOT', 'RunError', 'repo_path', 'format_cfg_options',
    'train_command', 'package_script', 'downstream_command',
    'run_logged', 'scalar_logs', 'last_checkpoint',
    # train
    'merge_train_options', 'init_cpu_process_group', 'run_training',
    'ensure_safe_checkpoint_hook', 'SAFE_HOOK_ADDED', 'VIS_BACKENDS',
    'add_vis_backends',
    # logs and model size
    'CurveLogError', 'find_scalar_logs', 'read_scalar_log',
    'collect_curves', 'plot_curves', 'COMPLEXITY_PARTS', 'model_complexity',
    # transfer: the chain, one fine-tune, the table
    'extract', 'run_transfer', 'finetune', 'run_test',
    'pretrained_init_paths', 'read_metrics', 'read_test_metrics',
    'run_fingerprint', 'markdown_table', 'mean_difference',
    # study
    'METHODS', 'DEFAULT_METHODS', 'TRANSFER_CONFIGS',
    'STUDY_TRANSFER_OPTIONS', 'StudySettings', 'run_study', 'report_study',
    'probe_curve', 'probe_table',
    # benchmark
    'default_configs', 'split_config_spec', 'run_benchmark', 'Candidate',
    'make_batch', 'reference_cfgs',
    # visualisation
    'load_model', 'source_image', 'write_pictures',
    # dense evaluation of checkpoints
    'DEFAULT_EVAL_PROBES', 'evaluate_checkpoints', 'report_markdown',
    'write_report'
]
