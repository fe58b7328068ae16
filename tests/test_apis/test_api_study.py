"""dense_contrast.apis.study_settings and study_report: settings, run
configs and the table (a quick study end to end:
tests/test_tools/test_study.py)."""
import dataclasses
import os.path as osp

import pytest
from mmengine.config import Config

from dense_contrast.apis import study as study_api
from dense_contrast.apis.runner import REPO_ROOT, RunError
from dense_contrast.apis.study_report import (METHODS, lr_markdown, markdown,
                                              orderings_markdown,
                                              paired_differences, probe_table,
                                              report_markdown,
                                              study_markdown, summarise,
                                              transfer_labels)
from dense_contrast.apis.study_settings import (StudySettings,
                                                probe_settings, study_config,
                                                toy_backbone_cfg)


def test_settings_defaults_and_quick():
    settings = StudySettings()
    assert settings.work_dir == 'work_dirs/study'
    assert settings.methods == list(METHODS)
    assert (settings.epochs, settings.num_images, settings.batch_size,
            settings.queue_len, settings.probe_interval) == (20, 2000, 32,
                                                             256, 5)
    assert len(settings.transfer_configs) == 2
    # The 5 % fine-tune chooses its learning rate on val; the frozen one
    # keeps its config's.
    assert settings.transfer_lrs == {
        'fcn_r18_1xb8-1000i_toyscenes-5pct-256x256': [0.4, 0.8]}
    assert StudySettings(transfer_lrs=dict(a=0.3, b=None)).transfer_lrs == {
        'a': [0.3]}
    with pytest.raises(ValueError, match='--transfer-lrs a: expected '
                       'positive learning rates'):
        StudySettings(transfer_lrs=dict(a=[0.1, -1]))
    quick = StudySettings(quick=True, epochs=10)
    assert (quick.epochs, quick.num_images, quick.batch_size) == (2, 8, 4)
    assert quick.no_transfer
    assert list(dataclasses.asdict(quick))[-1] == 'quick'
    with pytest.raises(ValueError, match='--num-images must be >= 1'):
        StudySettings(num_images=0)


def test_study_config_sets_the_budget(tmp_path, tiny_toyscenes):
    data_root, toy_args = tiny_toyscenes
    settings = StudySettings(epochs=3, num_images=6, batch_size=2,
                             queue_len=8, probe_interval=2)
    path = study_config(osp.join(REPO_ROOT, METHODS['densecl'][1]), settings,
                        5, data_root, str(tmp_path / 'run'))
    cfg = Config.fromfile(path)
    assert cfg.train_cfg.max_epochs == 3
    assert cfg.param_scheduler[0].end == 3
    assert cfg.model.queue_len == 8
    assert cfg.randomness.seed == 5
    dataset = cfg.train_dataloader.dataset
    assert dataset.indices == 6 and dataset.num_train == toy_args['num_train']
    assert cfg.train_dataloader.batch_size == 2
    hook = cfg.custom_hooks[-1]
    assert hook.type == 'DenseProbeHook' and hook.interval == 2


def test_table_means_and_single_seeds():
    records = {
        'densecl': [
            dict(seed=0, probes=dict(linear_mIoU=10.0, knn_mIoU=4.0),
                 transfer={'fcn/mIoU': 30.0, 'resnet18/mAP': 55.5}),
            dict(seed=1, probes=dict(linear_mIoU=12.0, knn_mIoU=6.0),
                 transfer={'resnet18/mAP': 56.5}),
        ],
        'mcl': [],
    }
    rows = summarise(records)
    assert [r['method'] for r in rows] == ['densecl']
    linear = rows[0]['scores']['linear_mIoU']
    assert linear['mean'] == 11.0 and linear['n'] == 2
    table = markdown(rows)
    assert table.startswith('| method | seeds | linear mIoU | knn mIoU | '
                            'corr acc | fcn/mIoU | resnet18/mAP |')
    # The multi-label benchmark's mAP is a percentage: two digits.
    assert ('| DenseCL | 0 1 | 11.00 ± 1.41 | 5.00 ± 1.41 | - | '
            '30.00 (n = 1) | 56.00 ± 0.71 |') in table


def test_transfer_labels_keep_protocols_apart():
    frozen = 'configs/x/fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py'
    low_d8 = 'configs/x/fcn_r18-d8_1xb8-1000i_toyscenes-5pct-128x128.py'
    low_256 = 'configs/x/fcn_r18_1xb8-1000i_toyscenes-5pct-256x256.py'
    # The default study's column keeps its short name.
    assert transfer_labels([frozen]) == {frozen: 'fcn-linear'}
    # Two FCN protocols: each adds the parts of its name the other lacks,
    # so neither overwrites the other's scores.
    labels = transfer_labels([frozen, low_d8, low_256])
    assert labels == {
        frozen: 'fcn-linear',
        low_d8: 'fcn-d8-128x128',
        low_256: 'fcn-256x256'
    }
    low_20 = 'configs/x/fcn_r18_1xb8-1000i_toyscenes-20pct-256x256.py'
    full = 'configs/x/fcn_r18_1xb8-8000i_toyscenes-256x256.py'
    assert transfer_labels([frozen, low_256, low_20, full]) == {
        frozen: 'fcn-linear',
        low_256: 'fcn-1000i-5pct',
        low_20: 'fcn-1000i-20pct',
        full: 'fcn-8000i'
    }
    # Names that differ only in their order of parts keep their whole name.
    a, b = 'x/fcn_a-b.py', 'x/fcn_b-a.py'
    assert transfer_labels([a, b]) == {a: 'fcn_a-b', b: 'fcn_b-a'}


def test_probes_read_layer3_of_the_toy_backbone_on_test(tiny_toyscenes):
    data_root, _ = tiny_toyscenes
    probe = probe_settings(StudySettings(), data_root)
    assert (probe['stage'], probe['val_split'], probe['img_scale']) == (
        2, 'test', 256)
    assert [p['type'] for p in probe['probes']] == [
        'DenseLinearProbe', 'DenseKNNProbe', 'DenseCorrespondenceProbe']
    # The random-init row is the toy backbone of the methods, built as their
    # configs build it (mmpretrain's default zero-initialised residual
    # branches would make a weaker, unfair baseline).
    backbone = toy_backbone_cfg()
    for method in ('densecl', 'mocov2', 'simclr'):
        toy = Config.fromfile(osp.join(REPO_ROOT,
                                       METHODS[method][1])).model.backbone
        assert {k: toy[k] for k in backbone} == backbone
    assert backbone['zero_init_residual'] is False
    assert backbone['base_channels'] == 16


def test_probe_table_compares_the_last_epoch_with_epoch_0():
    curve = {
        0: dict(linear_mIoU=14.0, knn_mIoU=13.5, corr_acc=50.0),
        6: dict(linear_mIoU=15.0, knn_mIoU=16.0, corr_acc=55.0),
        12: dict(linear_mIoU=15.5, knn_mIoU=18.25, corr_acc=58.5),
    }
    lines = probe_table(curve).strip().splitlines()
    assert lines[0] == ('| probe | random init (epoch 0) | after epoch 12 '
                        '| difference |')
    assert lines[2:] == [
        '| linear_mIoU | 14.00 | 15.50 | +1.50 |',
        '| knn_mIoU | 13.50 | 18.25 | +4.75 |',
        '| corr_acc | 50.00 | 58.50 | +8.50 |',
    ]
    with pytest.raises(ValueError, match='epoch 0'):
        probe_table({12: curve[12]})


def test_readme_table_is_the_committed_study():
    """The README's study table and docs/study/study.md are what
    ``tools/study.py --report-only --work-dir docs/study`` makes of the
    committed study.json."""
    import json
    with open(osp.join(REPO_ROOT, 'docs', 'study', 'study.json')) as f:
        study = json.load(f)
    records = {m: runs for m, runs in study['runs'].items() if m in METHODS}
    table = study_markdown(records)
    with open(osp.join(REPO_ROOT, 'docs', 'study', 'study.md')) as f:
        assert f.read() == report_markdown(records)
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        assert table in f.read()
    # What the README says the committed study holds, each run with both
    # default transfers.
    held = dict(random=[0, 1, 2], mocov2=[0, 1, 2], simclr=[0, 1, 2],
                densecl=[0, 1, 2], dsc_km=[0, 1, 2], dsc_pm=[0, 1, 2],
                mcl=[0, 1, 2], densecl_pp=[0, 1, 2])
    assert set(held) == set(StudySettings().methods)
    assert set(study['runs']) == set(held)
    for method, runs in study['runs'].items():
        assert sorted(r['seed'] for r in runs) == held[method], method
        for run in runs:
            assert set(run['transfer']) == {'fcn-linear/mIoU',
                                             'fcn/mIoU'}, method
            # The 5 % fine-tune at the default rates, chosen on val.
            assert set(run['transfer_lr']['fcn']['val']) == {'0.4', '0.8'}


def _unit(method, seed, knn, fcn=None):
    unit = dict(method=method, seed=seed, probes=dict(knn_mIoU=knn))
    if fcn is not None:
        unit['transfer'] = {'fcn-linear/mIoU': fcn}
    return unit


def test_orderings_pair_the_seeds():
    records = dict(
        random=[_unit('random', s, 14.0, 13.0) for s in (0, 1, 2)],
        densecl=[_unit('densecl', 1, 17.0, 12.0),
                 _unit('densecl', 0, 16.0, 15.0),
                 _unit('densecl', 2, 18.0)],
        dsc_km=[_unit('dsc_km', 0, 15.0, 16.0)],
        mocov2=[_unit('mocov2', 5, 20.0, 20.0)])
    # Seed order, only the seeds both have with the score.
    assert paired_differences(records, 'densecl', 'random',
                              'knn_mIoU') == [2.0, 3.0, 4.0]
    assert paired_differences(records, 'densecl', 'random',
                              'fcn-linear/mIoU') == [2.0, -1.0]
    lines = orderings_markdown(
        records, ['knn_mIoU', 'fcn-linear/mIoU']).strip().splitlines()
    assert lines[0] == '| ordering | seeds | knn mIoU | fcn-linear/mIoU |'
    # MoCo v2 shares no seed with anyone: no row.
    assert lines[2:] == [
        '| DenseCL - random init | 0 1 2 | +3.00 ± 1.00 (3 of 3) '
        '| +0.50 ± 2.12 (1 of 2) |',
        '| DSC-KM - DenseCL | 0 | -1.00 (0 of 1) | +1.00 (1 of 1) |',
    ]
    assert orderings_markdown(dict(mocov2=records['mocov2']),
                              ['knn_mIoU']) == ''
    text = study_markdown(records)
    assert text.startswith(markdown(summarise(records)) + '\n| ordering |')


LINEAR = 'configs/x/fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py'
LOW = 'configs/x/fcn_r18_1xb8-1000i_toyscenes-5pct-256x256.py'


def _fake_finetune(calls, val, test_scores):
    """A stand-in for downstream.finetune: records its run dirs and
    learning rates, returns the given val and test mIoU per rate."""

    def finetune(config, init, weights, sha, seed, run_dir, gpus, options,
                 test):
        lr = options.get(study_api.LR_OPTION)
        calls.append((osp.basename(run_dir), lr, seed))
        record = dict(metrics=dict(aAcc=90.0, mIoU=val[lr]),
                      test_metrics={'aAcc': 91.0, 'mIoU': test_scores[lr]})
        return record, False

    return finetune


def test_transfer_reports_the_rate_chosen_on_val(tmp_path, monkeypatch):
    calls = []
    # 0.4 is best on val and worse on test: the test score is 0.4's.
    monkeypatch.setattr(
        study_api, 'finetune',
        _fake_finetune(calls, {None: 20.0, 0.4: 36.0, 0.8: 35.0},
                       {None: 21.0, 0.4: 31.0, 0.8: 33.0}))
    settings = StudySettings(
        work_dir=str(tmp_path), transfer_configs=[LINEAR, LOW],
        transfer_lrs={'fcn_r18_1xb8-1000i_toyscenes-5pct-256x256':
                      [0.8, 0.4]})
    metrics, choices = study_api.transfer(
        dict(method='random', seed=2, checkpoint=None), settings)
    assert metrics == {'fcn-linear/mIoU': 21.0, 'fcn/mIoU': 31.0}
    assert choices == {'fcn': dict(lr=0.4, val={'0.4': 36.0, '0.8': 35.0})}
    # One run per rate, each in its own folder; the other config once.
    assert calls == [
        ('fcn-linear_r18_1xb8-1000i_toyscenes-256x256', None, 2),
        ('fcn_r18_1xb8-1000i_toyscenes-5pct-256x256_lr0.8', 0.8, 2),
        ('fcn_r18_1xb8-1000i_toyscenes-5pct-256x256_lr0.4', 0.4, 2),
    ]


def test_transfer_leaves_out_a_choice_not_finished(tmp_path, monkeypatch):
    """With finished_only, a config whose runs are not all finished has no
    score: the choice would be made on part of the rates."""
    finished = {None: dict(metrics=dict(mIoU=20.0),
                           test_metrics=dict(mIoU=21.0)),
                0.4: dict(metrics=dict(mIoU=36.0),
                          test_metrics=dict(mIoU=31.0))}

    def finished_record(config, weights, sha, seed, run_dir, options, test):
        return finished.get(options.get(study_api.LR_OPTION))

    monkeypatch.setattr(study_api, 'finished_record', finished_record)
    settings = StudySettings(
        work_dir=str(tmp_path), transfer_configs=[LINEAR, LOW],
        finished_only=True,
        transfer_lrs={'fcn_r18_1xb8-1000i_toyscenes-5pct-256x256':
                      [0.4, 0.8]})
    metrics, choices = study_api.transfer(
        dict(method='random', seed=0, checkpoint=None), settings)
    assert metrics == {'fcn-linear/mIoU': 21.0} and choices == {}


def test_choose_on_val_breaks_ties_to_the_smaller_rate():
    records = {0.8: dict(metrics={'mIoU': 30.0}),
               0.2: dict(metrics={'mIoU': 30.0}),
               0.4: dict(metrics={'mIoU': 29.0})}
    assert study_api.choose_on_val(records) == 0.2
    # The first of TRANSFER_METRICS a run logged decides (a detector's box
    # AP before its mask AP).
    assert study_api.val_score({'coco/segm_mAP': 0.2,
                                'coco/bbox_mAP': 0.3}) == 0.3
    with pytest.raises(RunError, match='none of .* in the val metrics'):
        study_api.val_score({'aAcc': 90.0})


def test_lr_table_lists_each_seed():
    def unit(method, seed, lr):
        return dict(method=method, seed=seed, probes={},
                    transfer_lr={'fcn': dict(lr=lr, val={'0.4': 1.0,
                                                         '0.8': 2.0})})

    records = dict(random=[unit('random', 1, 0.8), unit('random', 0, 0.4)],
                   densecl=[unit('densecl', 0, 0.8)], mocov2=[])
    assert lr_markdown(records).splitlines() == [
        '`fcn`: learning rate chosen on val, per seed (tried: 0.4, 0.8)',
        '',
        '| method | seeds | learning rate |',
        '| --- | --- | --- |',
        '| random init | 0 1 | 0.4 0.8 |',
        '| DenseCL | 0 | 0.8 |',
    ]
    assert lr_markdown(dict(random=[dict(seed=0, probes={})])) == ''
    # study.md: the README's tables, then these.
    assert report_markdown(records) == (study_markdown(records) + '\n' +
                                        lr_markdown(records))
