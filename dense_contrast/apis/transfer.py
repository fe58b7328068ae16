"""Pretrain (optionally), extract, fine-tune downstream, tabulate.

Pretraining runs are subprocesses of this repository's ``tools/train.py``
(``tools/dist_train.sh`` with ``gpus`` > 1); an unfinished one is resumed.
Each downstream run is a :func:`.downstream.finetune` (the config's own
package and Runner; finished runs are reused), and the table comes from
:mod:`.transfer_report`.

Outputs of :func:`run_transfer` under its ``work_dir``:
``weights/<init>_backbone.pth`` (extracted backbones),
``<init>/<config name>/seed<k>/`` (one Runner work dir per run),
``results.json`` and ``results.md``.
"""
import json
import os
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence, Tuple

from dense_contrast.utils.extract import (extract_backbone_weights,
                                          load_checkpoint_safely, sha256sum)
from .downstream import finetune
from .runner import RunError, last_checkpoint, run_logged, train_command
from .transfer_report import (BASELINE, SPLIT_KEYS, markdown_table,
                              shown_metrics)


def pretrain(config: str,
             work_dir: str,
             gpus: int = 1,
             options: Optional[Dict[str, object]] = None) -> str:
    """Pretrain from a config (resuming an unfinished run).

    The job's output goes to ``<work_dir>/transfer_stdout.log``.

    Args:
        config (str): The pretraining config.
        work_dir (str): The Runner's work dir.
        gpus (int): Processes. Defaults to 1.
        options (dict, optional): ``--cfg-options`` of the job. Defaults to
            None.

    Returns:
        str: The last checkpoint written.

    Raises:
        RunError: If the job fails or names no last checkpoint.
    """
    print(f'[pretrain] {config} -> {work_dir} (log: {work_dir}/'
          'transfer_stdout.log)', flush=True)
    seconds = run_logged(
        train_command(config, work_dir, gpus, options, resume=True),
        osp.join(work_dir, 'transfer_stdout.log'), f'pretraining {config}')
    checkpoint = last_checkpoint(work_dir)
    if checkpoint is None:
        raise RunError(f'pretraining {config} wrote no '
                       f'{osp.join(work_dir, "last_checkpoint")}')
    print(f'[pretrain] done in {seconds / 60:.1f} min: {checkpoint}',
          flush=True)
    return checkpoint


def extract(checkpoint: str,
            out_path: str,
            what: str = 'checkpoint') -> Tuple[str, dict]:
    """Extract the backbone unless ``out_path`` already holds it.

    Args:
        checkpoint (str): A pretraining checkpoint.
        out_path (str): The backbone file to write.
        what (str): How to name ``checkpoint`` in an error, e.g.
            ``'pretraining checkpoint'``. Defaults to 'checkpoint'.

    Returns:
        tuple[str, dict]: The output's sha256 and its ``meta``.

    Raises:
        RunError: If ``checkpoint`` (or an earlier ``out_path``) is missing,
            refused by the safe loader (written without
            ``SafeCheckpointHook``), unreadable, or holds no backbone; one
            line, ``'<what> <checkpoint>: <reason>'``, as ``tools/train.py``
            reports a refused ``--resume`` checkpoint.
    """
    try:
        source_sha = sha256sum(checkpoint)
        if osp.isfile(out_path):
            meta = load_checkpoint_safely(out_path).get('meta', {})
            if meta.get('source_sha256') == source_sha:
                return sha256sum(out_path), meta
        meta = extract_backbone_weights(checkpoint, out_path)['meta']
    except (OSError, ValueError, pickle.UnpicklingError,
            RuntimeError) as err:
        raise RunError(f'{what} {checkpoint}: {err}') from err
    return sha256sum(out_path), meta


def _pretrain_dir(work_dir: str, source: str) -> str:
    """Default work dir of a pretraining run of the chain.

    Args:
        work_dir (str): The chain's folder.
        source (str): The pretraining config.

    Returns:
        str: ``<work_dir>/pretrain_<config name>``.
    """
    return osp.join(work_dir,
                    'pretrain_' + osp.splitext(osp.basename(source))[0])


def run_transfer(pretrain_source: str,
                 downstream: Sequence[str],
                 work_dir: str,
                 name: Optional[str] = None,
                 random_init: bool = False,
                 mocov2: Optional[str] = None,
                 seeds: Sequence[int] = (0, ),
                 gpus: int = 1,
                 pretrain_work_dir: Optional[str] = None,
                 pretrain_cfg_options: Optional[Dict[str, object]] = None,
                 cfg_options: Optional[Dict[str, object]] = None,
                 test: bool = False) -> List[dict]:
    """The whole chain: pretrain, extract, fine-tune, write the table.

    Progress and the table are printed; ``results.json`` and
    ``results.md`` are written under ``work_dir``.

    Args:
        pretrain_source (str): A pretraining checkpoint (.pth), or a
            pretraining config (.py), pretrained first.
        downstream (list[str]): Downstream configs (mmdet / mmseg /
            mmpretrain).
        work_dir (str): Folder for all outputs.
        name (str, optional): Label of the pretrained weights in the table.
            Defaults to None: the algorithm recorded in the checkpoint,
            lower case.
        random_init (bool): Also fine-tune from random initialisation.
            Defaults to False.
        mocov2 (str, optional): Also fine-tune from this MoCo v2 checkpoint
            or config (pretrained first). Defaults to None.
        seeds (list[int]): Downstream seeds. Defaults to (0, ).
        gpus (int): Processes per run. Defaults to 1.
        pretrain_work_dir (str, optional): Work dir of the pretraining run
            when ``pretrain_source`` is a config. Defaults to None:
            ``<work_dir>/pretrain_<config name>``.
        pretrain_cfg_options (dict, optional): Overrides for pretraining
            runs. Defaults to None.
        cfg_options (dict, optional): Overrides for every downstream run.
            Defaults to None.
        test (bool): Also score every fine-tune on its config's test split;
            the table then shows the test metrics. Defaults to False.

    Returns:
        list[dict]: The result records of :func:`.downstream.finetune`, in
        run order.

    Raises:
        RunError: If a run fails, or a checkpoint is missing, unreadable or
            refused by the safe loader (:func:`extract`).
    """
    os.makedirs(work_dir, exist_ok=True)
    weights_dir = osp.join(work_dir, 'weights')

    def resolve(source: str, default_dir: str) -> str:
        if source.endswith('.py'):
            return pretrain(source, default_dir, gpus, pretrain_cfg_options)
        return source

    main_dir = pretrain_work_dir or _pretrain_dir(work_dir, pretrain_source)
    checkpoint = resolve(pretrain_source, main_dir)
    sha, meta = extract(checkpoint, osp.join(weights_dir, 'main_backbone.pth'),
                        'pretraining checkpoint')
    name = name or str(meta.get('algorithm', 'pretrained')).lower()
    inits: List[Tuple[str, Optional[str], Optional[str]]] = [
        (name, osp.join(weights_dir, 'main_backbone.pth'), sha)
    ]
    if mocov2:
        moco_ckpt = resolve(mocov2, _pretrain_dir(work_dir, mocov2))
        moco_path = osp.join(weights_dir, 'mocov2_backbone.pth')
        inits.append(('mocov2', moco_path,
                      extract(moco_ckpt, moco_path, 'MoCo v2 checkpoint')[0]))
    if random_init:
        inits.append((BASELINE, None, None))

    split = 'test' if test else 'val'
    jobs = [(config, init, seed) for config in downstream for init in inits
            for seed in seeds]
    records = []
    for index, (config, (init, weights, weights_sha), seed) in enumerate(
            jobs, 1):
        config_name = osp.splitext(osp.basename(config))[0]
        run_dir = osp.join(work_dir, init, config_name, f'seed{seed}')
        print(f'[{index}/{len(jobs)}] {init} -> {config_name}, seed {seed} '
              f'(log: {run_dir}/transfer_stdout.log)', flush=True)
        record, reused = finetune(config, init, weights, weights_sha, seed,
                                  run_dir, gpus, cfg_options, test=test)
        records.append(record)
        metrics = record[SPLIT_KEYS[split]]
        shown = {k: metrics[k] for k in shown_metrics([dict(metrics=metrics)])}
        status = 'finished earlier' if reused else (
            f'done in {record["minutes"]:.1f} min')
        print(f'[{index}/{len(jobs)}] {status}: {shown}', flush=True)

    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(records, f, indent=2)
    table = markdown_table(records, split)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table)
    print()
    print(table)
    print(f'Written: {osp.join(work_dir, "results.md")} and results.json')
    return records
