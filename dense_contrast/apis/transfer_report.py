"""The transfer chain's results table: downstream metrics by
initialisation and seed, and each initialisation's mean difference to
random initialisation."""
from typing import List, Optional, Sequence

#: Metric name endings shown in the Markdown table (JSON keeps everything).
TABLE_METRICS = ('mAP', 'mAP_50', 'mAP_75', 'AP', 'AP50', 'AP75', 'mIoU',
                 'mAcc', 'aAcc', 'accuracy/top1')

#: Record key of each split's metrics.
SPLIT_KEYS = {'val': 'metrics', 'test': 'test_metrics'}

#: The initialisation the table's difference columns compare with.
BASELINE = 'random'


def shown_metrics(records: Sequence[dict]) -> List[str]:
    """Names of the metrics the table shows (:data:`TABLE_METRICS`).

    Args:
        records (list[dict]): Result records of :func:`.downstream.finetune`.

    Returns:
        list[str]: Metric names, in order of first appearance.
    """
    names = []
    for record in records:
        for name in record['metrics']:
            short = name.split('/')[-1]  # coco/bbox_mAP -> bbox_mAP -> mAP
            if short.startswith(('bbox_', 'segm_')):
                short = short.split('_', 1)[1]
            if short in TABLE_METRICS or name in TABLE_METRICS:
                if name not in names:
                    names.append(name)
    return names


def mean_difference(records: Sequence[dict], init: str, baseline: str,
                    name: str) -> Optional[float]:
    """Mean over seeds of one init's metric minus the baseline's.

    Only the seeds that both have (with the metric) count: each seed's
    difference is taken first, then they are averaged.

    Args:
        records (list[dict]): Result records of :func:`.downstream.finetune`
            of one downstream config (``init``, ``seed`` and ``metrics``
            are read).
        init (str): The initialisation compared.
        baseline (str): The one it is compared with, e.g. ``'random'``.
        name (str): The metric.

    Returns:
        float, optional: The mean difference, None when the two share no
        seed with that metric.
    """
    values = {(r['init'], r['seed']): r['metrics'].get(name)
              for r in records}
    diffs = [
        value - values[(baseline, seed)]
        for (label, seed), value in values.items()
        if label == init and value is not None
        and values.get((baseline, seed)) is not None
    ]
    return sum(diffs) / len(diffs) if diffs else None


def markdown_table(records: Sequence[dict], split: str = 'val') -> str:
    """One table per downstream config: metrics by initialisation and seed.

    When a config was also fine-tuned from random initialisation
    (:data:`BASELINE`), one more column per other initialisation gives its
    difference to random (:func:`mean_difference`).

    Args:
        records (list[dict]): Result records of :func:`.downstream.finetune`.
        split (str): 'val' (``metrics``) or 'test' (``test_metrics``;
            records without them are left out). Defaults to 'val'.

    Returns:
        str: Markdown text.

    Raises:
        ValueError: If ``split`` is neither.
    """
    if split not in SPLIT_KEYS:
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    key = SPLIT_KEYS[split]
    records = [dict(r, metrics=r[key]) for r in records if key in r]
    lines = []
    for config in dict.fromkeys(r['config'] for r in records):
        rows = [r for r in records if r['config'] == config]
        inits = list(dict.fromkeys(r['init'] for r in rows))
        compared = [i for i in inits
                    if i != BASELINE] if BASELINE in inits else []
        header = [f'{r["init"]} (seed {r["seed"]})' for r in rows]
        header += [f'{init} - {BASELINE}' for init in compared]
        lines += [
            f'**{config}** ({split} split)', '',
            '| metric | ' + ' | '.join(header) + ' |',
            '| --- |' + ' ---: |' * len(header)
        ]
        for name in shown_metrics(rows):
            cells = [_cell(r['metrics'].get(name), '.4g') for r in rows]
            cells += [
                _cell(mean_difference(rows, init, BASELINE, name), '+.4g')
                for init in compared
            ]
            lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    inits = list(dict.fromkeys((r['init'], r['checkpoint'],
                                r['checkpoint_sha256']) for r in records))
    lines += ['| init | checkpoint | sha256 |', '| --- | --- | --- |']
    for init, checkpoint, sha in inits:
        lines.append(f'| {init} | {checkpoint or "-"} | '
                     f'{sha[:16] + "..." if sha else "-"} |')
    return '\n'.join(lines) + '\n'


def _cell(value: Optional[float], spec: str) -> str:
    """A table cell: ``value`` formatted with ``spec``, '-' for None.

    Args:
        value (float, optional): The number.
        spec (str): A format spec, e.g. ``'.4g'``.

    Returns:
        str: The cell text.
    """
    return '-' if value is None else format(value, spec)
