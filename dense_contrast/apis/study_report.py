"""The study's methods, its table and its probe plot (see :mod:`.study`)."""
import math
import os.path as osp
import re
from collections import Counter
from typing import Dict, List, Sequence, Tuple

#: Study methods in table order: name -> (label, toy config or None), the
#: configs relative to the source checkout.
METHODS = {
    'random': ('random init', None),
    'mocov2': ('MoCo v2 (mmpretrain)',
               'configs/mocov2/mocov2_resnet18_1xb32-coslr-20e_toyscenes.py'),
    'simclr': ('SimCLR (mmpretrain)',
               'configs/simclr/simclr_resnet18_1xb32-coslr-20e_toyscenes.py'),
    'densecl': ('DenseCL', 'configs/densecl/'
                'densecl_resnet18_1xb32-coslr-20e_toyscenes.py'),
    'dsc_km': ('DSC-KM',
               'configs/dsc/dsc-km_resnet18_1xb32-coslr-20e_toyscenes.py'),
    'dsc_pm': ('DSC-PM',
               'configs/dsc/dsc-pm_resnet18_1xb32-coslr-20e_toyscenes.py'),
    'mcl': ('MCL',
            'configs/mcl/mcl_resnet18_1xb32-lars-coslr-20e_toyscenes.py'),
    'densecl_pp': ('DenseCL++',
                   'configs/densecl_pp/'
                   'densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py'),
}

#: Transfer metrics shown in the table (name endings).
TRANSFER_METRICS = ('bbox_mAP', 'segm_mAP', 'mIoU', 'mAP')
PROBE_METRICS = ('linear_mIoU', 'knn_mIoU', 'corr_acc')

#: The papers' orderings the study checks, as (method, the method it should
#: beat): pretraining above random init, DenseCL above MoCo v2 on dense
#: tasks, DSC and MCL above DenseCL, DenseCL++ above DenseCL and SimCLR.
ORDERINGS = (('mocov2', 'random'), ('simclr', 'random'),
             ('densecl', 'random'), ('densecl', 'mocov2'),
             ('dsc_km', 'densecl'), ('dsc_pm', 'densecl'),
             ('mcl', 'densecl'), ('densecl_pp', 'densecl'),
             ('densecl_pp', 'simclr'))


def transfer_labels(configs: Sequence[str]) -> Dict[str, str]:
    """Column label of each downstream config in the study's table.

    A config's label is its model, the name's first part (``fcn-linear``
    for ``fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py``). Configs whose
    model is shared by another one in ``configs`` add the parts of their
    name (split at ``_`` and ``-``) that the others sharing it lack
    (``fcn-1000i-5pct`` and ``fcn-8000i`` for the 5 % and the full
    fine-tune at 256 px), so that two protocols never write into one
    column; configs whose labels would still be equal keep their whole
    names.

    Args:
        configs (Sequence[str]): Paths of the downstream configs.

    Returns:
        dict[str, str]: Config path -> label.
    """
    names = {c: osp.splitext(osp.basename(c))[0] for c in configs}
    short = {c: n.split('_')[0] for c, n in names.items()}
    parts = {c: re.split('[_-]', n) for c, n in names.items()}
    labels = {}
    for c in configs:
        rivals = [o for o in configs if o != c and short[o] == short[c]]
        if not rivals:
            labels[c] = short[c]
            continue
        shared = set.intersection(*(set(parts[o]) for o in rivals))
        own = [p for p in parts[c] if p not in shared]
        labels[c] = '-'.join([short[c]] + own) if own else names[c]
    counts = Counter(labels.values())
    return {c: names[c] if counts[label] > 1 else label
            for c, label in labels.items()}


def mean_spread(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value).

    Args:
        values (list[float]): At least one value.

    Returns:
        tuple[float, float]: The mean and the spread.
    """
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) /
                    (n - 1)) if n > 1 else 0.0
    return mean, std


def run_scores(run: dict) -> Dict[str, float]:
    """Every score of one unit: its last probes and its transfers.

    Args:
        run (dict): A unit's result (``probes``, optional ``transfer``).

    Returns:
        dict[str, float]: Score name -> value.
    """
    return {**run['probes'], **run.get('transfer', {})}


def summarise(records: Dict[str, List[dict]]) -> List[dict]:
    """Per method: mean and spread of every score over its seeds.

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.

    Returns:
        list[dict]: One row per method with results: ``method``, ``label``,
        ``seeds`` and ``scores`` (name -> ``mean``, ``std``, ``n``).
    """
    rows = []
    for method, runs in records.items():
        if not runs:
            continue
        scores: Dict[str, List[float]] = {}
        for run in runs:
            for key, value in run_scores(run).items():
                scores.setdefault(key, []).append(value)
        rows.append(
            dict(
                method=method,
                label=METHODS[method][0],
                seeds=[r['seed'] for r in runs],
                scores={
                    k: dict(zip(('mean', 'std'), mean_spread(v)), n=len(v))
                    for k, v in scores.items()
                }))
    return rows


def table_columns(rows: List[dict]) -> List[str]:
    """The scores the tables show: the probes, then every transfer metric
    in the order the rows first have it.

    Args:
        rows (list[dict]): Rows of :func:`summarise`.

    Returns:
        list[str]: Score names.
    """
    columns = list(PROBE_METRICS)
    for row in rows:
        columns += [k for k in row['scores']
                    if k not in columns and k.split('/')[-1] in
                    TRANSFER_METRICS]
    return columns


def _digits(column: str) -> int:
    """Decimals shown: COCO box and mask AP are in [0, 1], the rest in
    percent."""
    return 3 if column.endswith(('bbox_mAP', 'segm_mAP')) else 2


def markdown(rows: List[dict]) -> str:
    """The table: one row per method, mean ± sample std over seeds.

    A score measured for one seed only is marked n = 1.

    Args:
        rows (list[dict]): Rows of :func:`summarise`.

    Returns:
        str: Markdown text.
    """
    columns = table_columns(rows)
    head = ['method', 'seeds'] + [c.replace('_', ' ') for c in columns]
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + ' --- |' * len(head)]
    for row in rows:
        cells = [row['label'], ' '.join(map(str, row['seeds']))]
        for c in columns:
            s = row['scores'].get(c)
            digits = _digits(c)
            if s is None:
                cells.append('-')
            elif s['n'] == 1:
                cells.append(f'{s["mean"]:.{digits}f} (n = 1)')
            else:
                cells.append(
                    f'{s["mean"]:.{digits}f} ± {s["std"]:.{digits}f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def paired_differences(records: Dict[str, List[dict]], method: str,
                       baseline: str, score: str) -> List[float]:
    """Per seed, ``method``'s score minus ``baseline``'s, over the seeds
    that both have with that score.

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.
        method (str): The method compared.
        baseline (str): The method it is compared with.
        score (str): A probe or ``<transfer>/<metric>`` name.

    Returns:
        list[float]: The differences, in seed order.
    """
    base = {r['seed']: run_scores(r).get(score)
            for r in records.get(baseline, [])}
    return [
        run_scores(r)[score] - base[r['seed']]
        for r in sorted(records.get(method, []), key=lambda r: r['seed'])
        if score in run_scores(r) and base.get(r['seed']) is not None
    ]


def orderings_markdown(records: Dict[str, List[dict]],
                       columns: Sequence[str]) -> str:
    """The papers' orderings (:data:`ORDERINGS`) as paired differences.

    A cell is the mean ± sample std over seeds of the per-seed difference
    (the std left out for one seed) and on how many of those seeds the
    method is ahead, e.g. ``+1.32 ± 0.54 (3 of 3)``. Pairs without a
    common seed are left out.

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.
        columns (Sequence[str]): The scores (:func:`table_columns`).

    Returns:
        str: Markdown text; empty when no pair has a common seed.
    """
    head = ['ordering', 'seeds'] + [c.replace('_', ' ') for c in columns]
    lines = []
    for method, baseline in ORDERINGS:
        seeds = sorted(
            {r['seed'] for r in records.get(method, [])}
            & {r['seed'] for r in records.get(baseline, [])})
        if not seeds:
            continue
        cells = [f'{METHODS[method][0]} - {METHODS[baseline][0]}',
                 ' '.join(map(str, seeds))]
        for c in columns:
            diffs = paired_differences(records, method, baseline, c)
            if not diffs:
                cells.append('-')
                continue
            mean, std = mean_spread(diffs)
            ahead = sum(d > 0 for d in diffs)
            spread = f' ± {std:.{_digits(c)}f}' if len(diffs) > 1 else ''
            cells.append(f'{mean:+.{_digits(c)}f}{spread} '
                         f'({ahead} of {len(diffs)})')
        lines.append('| ' + ' | '.join(cells) + ' |')
    if not lines:
        return ''
    return '\n'.join(['| ' + ' | '.join(head) + ' |',
                      '|' + ' --- |' * len(head)] + lines) + '\n'


def study_markdown(records: Dict[str, List[dict]]) -> str:
    """``study.md``: the per-method table (:func:`markdown`), then the
    orderings (:func:`orderings_markdown`).

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.

    Returns:
        str: Markdown text.
    """
    rows = summarise(records)
    orderings = orderings_markdown(records, table_columns(rows))
    return markdown(rows) + ('\n' + orderings if orderings else '')


def lr_markdown(records: Dict[str, List[dict]]) -> str:
    """The learning rates the transfers chose on val, per method and seed
    (the units' ``transfer_lr``, see :func:`.study.transfer`).

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.

    Returns:
        str: Markdown text: one table per transfer that chose a rate (the
        rates tried, then one row per method with the rate of each seed,
        in seed order); empty when none did.
    """
    labels = []
    for runs in records.values():
        for run in runs:
            labels += [k for k in run.get('transfer_lr', {})
                       if k not in labels]
    parts = []
    for label in labels:
        tried = sorted({float(lr) for runs in records.values()
                        for run in runs
                        for lr in run.get('transfer_lr', {}).get(
                            label, {}).get('val', {})})
        lines = [f'`{label}`: learning rate chosen on val, per seed '
                 f'(tried: {", ".join(f"{lr:g}" for lr in tried)})', '',
                 '| method | seeds | learning rate |', '| --- | --- | --- |']
        for method, runs in records.items():
            chosen = [(r['seed'], r['transfer_lr'][label]['lr'])
                      for r in sorted(runs, key=lambda r: r['seed'])
                      if label in r.get('transfer_lr', {})]
            if chosen:
                lines.append(
                    f'| {METHODS[method][0]} | '
                    f'{" ".join(str(s) for s, _ in chosen)} | '
                    f'{" ".join(f"{lr:g}" for _, lr in chosen)} |')
        parts.append('\n'.join(lines) + '\n')
    return '\n'.join(parts)


def report_markdown(records: Dict[str, List[dict]]) -> str:
    """``study.md``: the tables of :func:`study_markdown` (the README's),
    then the learning rates chosen on val (:func:`lr_markdown`), if any.

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.

    Returns:
        str: Markdown text.
    """
    lrs = lr_markdown(records)
    return study_markdown(records) + ('\n' + lrs if lrs else '')


def plot(records: Dict[str, List[dict]], path: str) -> None:
    """Probe scores against pretraining epoch, mean over seeds with a ±1
    std band; random init as a dashed line.

    Args:
        records (dict[str, list[dict]]): Method -> its units' results.
        path (str): The PNG file to write.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(PROBE_METRICS), figsize=(5.5 * len(PROBE_METRICS), 4))
    for ax, metric in zip(axes, PROBE_METRICS):
        for method, runs in records.items():
            if not runs:
                continue
            label = METHODS[method][0]
            if not any(metric in r['probes'] for r in runs):
                continue
            if method == 'random':
                mean, _ = mean_spread(
                    [r['probes'][metric] for r in runs
                     if metric in r['probes']])
                ax.axhline(mean, ls='--', c='grey', label=label)
                continue
            epochs = sorted({int(e) for r in runs for e in r['curve']})
            stats = [
                mean_spread([
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


def probe_table(curve: Dict[int, Dict[str, float]]) -> str:
    """The probes of one run before training and after its last probed
    epoch, with the difference (see :func:`.study.probe_curve`).

    The probe at epoch 0 (``DenseProbeHook(before_train=True)``) is the
    random-init baseline of the same run: the same backbone before its
    first step.

    Args:
        curve (dict[int, dict[str, float]]): Epoch -> probe name -> value.

    Returns:
        str: A markdown table, one row per probe value.

    Raises:
        ValueError: If the curve has no epoch 0 or no later epoch.
    """
    if 0 not in curve or len(curve) < 2:
        raise ValueError(
            'probe_table needs the probes before training (epoch 0, '
            'DenseProbeHook(before_train=True)) and after a later epoch; '
            f'found epochs {sorted(curve)}')
    last = max(curve)
    lines = [
        f'| probe | random init (epoch 0) | after epoch {last} | difference |',
        '| --- | ---: | ---: | ---: |'
    ]
    for name, before in curve[0].items():
        after = curve[last].get(name)
        if after is None:
            continue
        lines.append(f'| {name} | {before:.2f} | {after:.2f} | '
                     f'{after - before:+.2f} |')
    return '\n'.join(lines) + '\n'
