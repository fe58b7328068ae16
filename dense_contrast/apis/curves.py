"""Training curves from a run's mmengine json scalar logs, as a PNG.

The work behind ``tools/analysis_tools/plot_curves.py``. mmengine's
``LoggerHook`` writes one json object a line to
``<work_dir>/<timestamp>/vis_data/<timestamp>.json`` (and
``LocalVisBackend`` the same rows to ``scalars.json``): training rows carry
``iter`` (the global iteration) with ``loss*``, ``lr`` and timings; the
other rows (validation, the dense probes' ``probe/*``) carry ``epoch`` or
``step``. Training keys are drawn against the iteration, the others
against the epoch (else the step), one panel per key.
"""
import json
import math
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    'CurveLogError', 'find_scalar_logs', 'read_scalar_log', 'collect_curves',
    'plot_curves'
]

#: Keys of training rows that are bookkeeping, not curves.
_SKIPPED_KEYS = ('epoch', 'iter', 'step', 'data_time', 'time', 'memory')


class CurveLogError(ValueError):
    """A scalar log that is missing or not in mmengine's json-lines form."""


def find_scalar_logs(path: str) -> List[str]:
    """The json scalar logs of a work dir, or the file itself.

    Args:
        path (str): A json log file, or a Runner work dir (every
            ``<timestamp>/vis_data/<timestamp>.json``, oldest first, so
            that a resumed run reads in order; ``scalars.json`` where a run
            has no timestamped file).

    Returns:
        list[str]: The log files.

    Raises:
        CurveLogError: If ``path`` does not exist or a work dir holds no
            log.
    """
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise CurveLogError(f'{path}: no such json log file or work dir')
    logs = []
    for stamp in sorted(os.listdir(path)):
        vis = osp.join(path, stamp, 'vis_data')
        for name in (f'{stamp}.json', 'scalars.json'):
            if osp.isfile(osp.join(vis, name)):
                logs.append(osp.join(vis, name))
                break
    if not logs:
        raise CurveLogError(
            f'{path}: no json scalar log; expected '
            '<work_dir>/<timestamp>/vis_data/<timestamp>.json as mmengine\'s '
            'LoggerHook writes it')
    return logs


def read_scalar_log(path: str) -> List[dict]:
    """Read one json-lines scalar log.

    Args:
        path (str): The file.

    Returns:
        list[dict]: One dict per non-empty line.

    Raises:
        CurveLogError: If a line is not a json object (naming the line).
    """
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise CurveLogError(
                    f'{path}, line {number}: not json ({err.msg}); expected '
                    'one json object a line (mmengine\'s scalar log)'
                ) from None
            if not isinstance(row, dict):
                raise CurveLogError(
                    f'{path}, line {number}: expected a json object, got '
                    f'{type(row).__name__}')
            rows.append(row)
    return rows


Curve = Tuple[str, List[float], List[float]]


def collect_curves(rows: Sequence[dict],
                   keys: Optional[Sequence[str]] = None
                   ) -> 'OrderedDict[str, Curve]':
    """Series per key from scalar-log rows.

    Args:
        rows (Sequence[dict]): Rows of :func:`read_scalar_log`, in order; a
            later row with the same x value replaces an earlier one (a
            resumed run repeats the steps after its checkpoint).
        keys (Sequence[str], optional): Keys to collect. Defaults to None:
            every training key that starts with ``loss`` and every numeric
            key of the other rows (validation metrics, probes).

    Returns:
        OrderedDict[str, tuple]: key -> (x label, xs, ys), xs ascending.

    Raises:
        CurveLogError: If a key asked for is in no row (the known keys are
            listed).
    """
    series: Dict[str, Dict[float, float]] = OrderedDict()
    x_labels: Dict[str, str] = {}
    seen = set()
    for row in rows:
        train = 'iter' in row
        if train:
            x_label, x = 'iteration', row['iter']
        elif 'epoch' in row:
            x_label, x = 'epoch', row['epoch']
        elif 'step' in row:
            x_label, x = 'step', row['step']
        else:
            continue
        for key, value in row.items():
            if key in _SKIPPED_KEYS or isinstance(value, bool) or \
                    not isinstance(value, (int, float)):
                continue
            seen.add(key)
            wanted = key in keys if keys is not None else (
                key.startswith('loss') if train else True)
            if not wanted:
                continue
            series.setdefault(key, {})[float(x)] = float(value)
            x_labels.setdefault(key, x_label)
    if keys is not None:
        missing = [k for k in keys if k not in seen]
        if missing:
            raise CurveLogError(
                f'keys {missing} are in no row of the log; it has '
                f'{sorted(seen)}')
    curves: 'OrderedDict[str, Curve]' = OrderedDict()
    for key, points in series.items():
        xs = sorted(points)
        curves[key] = (x_labels[key], xs, [points[x] for x in xs])
    return curves


def plot_curves(logs: Sequence[str],
                out: str,
                keys: Optional[Sequence[str]] = None,
                title: Optional[str] = None,
                columns: int = 2) -> List[str]:
    """Draw the curves of one run's scalar logs into a PNG.

    Args:
        logs (Sequence[str]): Json log files or work dirs
            (:func:`find_scalar_logs`), read in order as one run.
        out (str): The PNG to write (its folder is created).
        keys (Sequence[str], optional): Keys to draw; see
            :func:`collect_curves`. Defaults to None (losses and the
            evaluation metrics).
        title (str, optional): Figure title. Defaults to None (the first
            log's path).
        columns (int): Panels per row. Defaults to 2.

    Returns:
        list[str]: The keys drawn, in panel order.

    Raises:
        CurveLogError: If a log is missing or malformed, a key is unknown,
            or there is nothing to draw.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    files = [f for log in logs for f in find_scalar_logs(log)]
    rows = [row for f in files for row in read_scalar_log(f)]
    curves = collect_curves(rows, keys)
    if not curves:
        raise CurveLogError(
            f'{", ".join(files)}: no loss or evaluation scalars to draw')
    columns = max(1, min(columns, len(curves)))
    nrows = math.ceil(len(curves) / columns)
    fig, axes = plt.subplots(
        nrows, columns, figsize=(5 * columns, 3.2 * nrows), squeeze=False)
    for ax, (key, (x_label, xs, ys)) in zip(axes.flat, curves.items()):
        ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, markersize=3)
        ax.set_title(key)
        ax.set_xlabel(x_label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(curves):]:
        ax.axis('off')
    fig.suptitle(title if title is not None else files[0], fontsize=9)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return list(curves)
