"""Run training jobs as subprocesses, each with its output in a log file.

:func:`run_logged` is the one way the transfer chain and the study start a
job; :func:`train_command` and :func:`downstream_command` build the command
lines it runs: this repository's ``tools/train.py`` (or
``tools/dist_train.sh`` for several processes) for pretraining, and the
training or test script of a downstream config's own package for
fine-tuning and scoring. :func:`scalar_logs` and :func:`last_checkpoint`
find what a finished Runner left in its work dir.
"""
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config

#: The repository root when the package runs from a source checkout (the
#: folder holding ``dense_contrast/``, ``tools/`` and ``configs/``).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Log lines quoted in the message of a failed job.
TAIL_LINES = 30


class RunError(RuntimeError):
    """A job failed, or what it should have written is missing."""


def repo_path(*parts: str) -> str:
    """A file of the source checkout, e.g. ``repo_path('tools', 'train.py')``.

    This needs a source checkout (the repository, installed editable or put
    on ``PYTHONPATH``): an installed wheel has no ``tools/`` or
    ``configs/``.

    Args:
        *parts (str): Path components below :data:`REPO_ROOT`.

    Returns:
        str: The absolute path.

    Raises:
        FileNotFoundError: If the checkout has no such file.
    """
    path = osp.join(REPO_ROOT, *parts)
    if not osp.exists(path):
        raise FileNotFoundError(
            f'{path} does not exist: this needs a source checkout of '
            'dense_contrast (its tools/ and configs/ folders)')
    return path


def format_cfg_options(options: Dict[str, object]) -> List[str]:
    """Turn ``{key: value}`` into ``key=value`` words for ``--cfg-options``.

    Values are written with ``repr`` so that mmengine's ``DictAction``
    parses them back to the same Python value (``None``, numbers, strings,
    lists).

    Args:
        options (dict): Dotted config keys and their values.

    Returns:
        list[str]: One word per option, in the dict's order.
    """
    words = []
    for key, value in options.items():
        text = value if isinstance(value, str) else repr(value)
        if isinstance(value, (list, tuple)):
            text = repr(list(value)).replace(' ', '')
        words.append(f'{key}={text}')
    return words


def train_command(config: str,
                  work_dir: str,
                  gpus: int = 1,
                  options: Optional[Dict[str, object]] = None,
                  resume: bool = False) -> List[str]:
    """Command line of one pretraining job of this repository.

    ``tools/train.py`` for one process, ``tools/dist_train.sh`` (torchrun)
    for more; both need a source checkout (see :func:`repo_path`).

    Args:
        config (str): The config file.
        work_dir (str): The Runner's work dir.
        gpus (int): Processes. Defaults to 1.
        options (dict, optional): ``--cfg-options`` of the job. Defaults to
            None (none).
        resume (bool): Resume from the latest checkpoint in ``work_dir``.
            Defaults to False.

    Returns:
        list[str]: The command line.
    """
    if gpus > 1:
        cmd = ['bash', repo_path('tools', 'dist_train.sh'), config, str(gpus)]
    else:
        cmd = [sys.executable, repo_path('tools', 'train.py'), config]
    cmd += ['--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    if options:
        cmd += ['--cfg-options', *format_cfg_options(options)]
    return cmd


def package_script(cfg: Config, tool: str = 'train') -> str:
    """The ``tools/train.py`` or ``tools/test.py`` of the package that owns
    a downstream config.

    mmdet, mmseg and mmpretrain install their own entry points
    (``<package>/.mim/tools/{train,test}.py``); running them keeps the
    downstream config under that package's own Runner set-up. Configs in
    this project's scope use this repository's ``tools/train.py`` (a source
    checkout, see :func:`repo_path`).

    Args:
        cfg (Config): A downstream config.
        tool (str): 'train' or 'test'. Defaults to 'train'.

    Returns:
        str: The script's path.

    Raises:
        ValueError: If ``tool`` is neither.
        RunError: If the package or its script is missing, or a test
            script is asked for a pretraining config.
    """
    if tool not in ('train', 'test'):
        raise ValueError(f"tool must be 'train' or 'test', got {tool!r}")
    scope = cfg.get('default_scope', 'dense_contrast')
    if scope == 'dense_contrast':
        if tool == 'test':
            raise RunError(f'{cfg.filename}: pretraining configs have no '
                           'test step')
        return repo_path('tools', 'train.py')
    try:
        package = __import__(scope)
    except ImportError as err:
        raise RunError(f'{cfg.filename} needs the {scope!r} package '
                       f'({err})') from err
    script = osp.join(osp.dirname(package.__file__), '.mim', 'tools',
                      f'{tool}.py')
    if not osp.isfile(script):
        raise RunError(f'{scope} has no {tool} script at {script}')
    return script


def downstream_command(config: str,
                       cfg: Config,
                       work_dir: str,
                       gpus: int = 1,
                       options: Optional[Dict[str, object]] = None,
                       checkpoint: Optional[str] = None) -> List[str]:
    """Command line of one downstream run through its package's script:
    training, or with ``checkpoint`` the test step on the config's test
    split.

    Several processes go through ``torch.distributed.run`` (master port
    from the ``PORT`` environment variable, default 29500).

    Args:
        config (str): The downstream config file.
        cfg (Config): The same config, loaded.
        work_dir (str): The Runner's work dir.
        gpus (int): Processes. Defaults to 1.
        options (dict, optional): ``--cfg-options`` of the run. Defaults to
            None (none).
        checkpoint (str, optional): Test these weights with the package's
            ``tools/test.py`` instead of training. Defaults to None.

    Returns:
        list[str]: The command line.
    """
    script = package_script(cfg, 'train' if checkpoint is None else 'test')
    args = [config] if checkpoint is None else [config, checkpoint]
    if gpus > 1:
        cmd = [
            sys.executable, '-m', 'torch.distributed.run',
            f'--nproc_per_node={gpus}',
            f'--master_port={os.environ.get("PORT", "29500")}', script,
            *args, '--launcher', 'pytorch'
        ]
    else:
        cmd = [sys.executable, script, *args]
    cmd += ['--work-dir', work_dir]
    if options:
        cmd += ['--cfg-options', *format_cfg_options(options)]
    return cmd


def run_logged(cmd: List[str],
               log_path: str,
               what: str,
               append: bool = False) -> float:
    """Run a job with its output in a log file; fail with the log's tail.

    The job runs in the current folder with :data:`REPO_ROOT` put in front
    of ``PYTHONPATH``, so that it imports this package from a checkout that
    is not installed.

    Args:
        cmd (list[str]): The command line.
        log_path (str): File for the job's stdout and stderr (its folder is
            created).
        what (str): What the job does, for the error message.
        append (bool): Add to an existing log instead of replacing it.
            Defaults to False.

    Returns:
        float: Seconds taken.

    Raises:
        RunError: If the job exits with a non-zero status; the message
            holds the command and the last lines of the log.
    """
    os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'a' if append else 'w') as log:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(),
            env=env)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = ''.join(f.readlines()[-TAIL_LINES:])
        raise RunError(f'{what} failed (exit {proc.returncode}); '
                       f'command: {" ".join(cmd)}\nlast lines of '
                       f'{log_path}:\n{tail}')
    return time.time() - start


def scalar_logs(run_dir: str) -> List[str]:
    """The ``vis_data/scalars.json`` files of a Runner's work dir.

    Every run (timestamp folder) writes one, so a resumed run has several.

    Args:
        run_dir (str): The Runner's work dir.

    Returns:
        list[str]: Their paths, oldest timestamp first.
    """
    return [
        osp.join(run_dir, stamp, 'vis_data', 'scalars.json')
        for stamp in sorted(os.listdir(run_dir))
        if osp.isfile(osp.join(run_dir, stamp, 'vis_data', 'scalars.json'))
    ]


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint a Runner's ``CheckpointHook`` saved last.

    Args:
        work_dir (str): The Runner's work dir.

    Returns:
        str, optional: The path named in ``<work_dir>/last_checkpoint``, or
        None when there is no such file.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip()
