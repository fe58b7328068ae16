"""dense_contrast.apis.study_settings and study_report: settings, run
configs and the table (a quick study end to end:
tests/test_tools/test_study.py)."""
import dataclasses
import os.path as osp

import pytest
from mmengine.config import Config

from dense_contrast.apis.runner import REPO_ROOT
from dense_contrast.apis.study_report import (METHODS, markdown,
                                              orderings_markdown,
                                              paired_differences, probe_table,
                                              study_markdown, summarise,
                                              transfer_labels)
from dense_contrast.apis.study_settings import (StudySettings,
                                                probe_settings, study_config,
                                                toy_backbone_cfg)


def test_settings_defaults_and_quick():
    settings = StudySettings()
    assert settings.work_dir == 'work_dirs/study'
    assert settings.methods == [m for m in METHODS if m != 'mcl']
    assert (settings.epochs, settings.num_images, settings.batch_size,
            settings.queue_len, settings.probe_interval) == (20, 2000, 32,
                                                             256, 5)
    assert len(settings.transfer_configs) == 2
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
    for method in ('densecl', 'mocov2'):
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
    table = study_markdown(
        {m: runs for m, runs in study['runs'].items() if m in METHODS})
    with open(osp.join(REPO_ROOT, 'docs', 'study', 'study.md')) as f:
        assert f.read() == table
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        assert table in f.read()
    # What the README says the committed study holds, each run with both
    # default transfers.
    held = dict(random=[0, 1, 2], mocov2=[0, 1, 2], densecl=[0, 1, 2],
                dsc_km=[0, 1, 2], dsc_pm=[0, 1, 2], densecl_pp=[0, 1, 2])
    assert set(held) == set(StudySettings().methods)
    assert set(study['runs']) == set(held)
    for method, runs in study['runs'].items():
        assert sorted(r['seed'] for r in runs) == held[method], method
        for run in runs:
            assert set(run['transfer']) == {'fcn-linear/mIoU',
                                             'fcn/mIoU'}, method


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
