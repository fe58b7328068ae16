"""dense_contrast.apis.benchmark on a tiny setting: it writes its table and
JSON, with mmpretrain's DenseCL and MoCo v2 as references (no timing
assertions). The command line: tests/test_tools/test_benchmark.py."""
import json
import os.path as osp

import pytest

from dense_contrast.apis import benchmark

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

TINY = """
_base_ = {base!r}
view_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.),
         backend='pillow')]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs')]
train_dataloader = dict(batch_size=4, dataset=dict(pipeline=train_pipeline))
model = dict(queue_len=16, neck=dict(hid_channels=16))
"""


def test_default_configs_cover_r50_and_toy():
    configs = benchmark.default_configs()
    assert 'configs/densecl/densecl_resnet50_8xb32-coslr-200e_in1k.py' in configs
    assert ('configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes.py'
            in configs)


@pytest.mark.timeout(300)
def test_benchmark_writes_table_and_json(tmp_path):
    config = tmp_path / 'densecl_tiny.py'
    config.write_text(
        TINY.format(base=osp.join(ROOT, 'configs', 'densecl',
                                  'densecl_resnet18_1xb32-coslr-20e_toyscenes.py')))
    out_dir = tmp_path / 'out'
    results = benchmark.run_benchmark([str(config)], rounds=2, warmup=0,
                                      batch=2, source_size=64,
                                      out_dir=str(out_dir))

    saved = json.loads((out_dir / 'benchmark.json').read_text())
    assert saved['results'] == json.loads(json.dumps(results))
    (group, ) = saved['results']
    assert group['setting']['batch'] == 2
    assert group['setting']['view_size'] == [32, 32]
    names = [row['name'] for row in group['rows']]
    assert names == ['densecl_tiny', 'mmpretrain DenseCL', 'mmpretrain MoCo v2']
    for row in group['rows']:
        assert row['ms_per_step'] > 0 and row['peak_mib'] > 0
        assert set(row['ratios']) == {'mmpretrain DenseCL',
                                      'mmpretrain MoCo v2', 'densecl_tiny'}
        assert row['images'] == 2 and row['views'] == 2
    by_name = {row['name']: row for row in group['rows']}
    # A model against itself: every per-round ratio is exactly 1.
    assert by_name['mmpretrain MoCo v2']['ratios']['mmpretrain MoCo v2'] == 1.0

    table = (out_dir / 'benchmark.md').read_text()
    assert '| densecl_tiny | 2 |' in table
    assert 'time vs mmpretrain DenseCL' in table
    assert 'ResNet-18, [32, 32] px views, batch 2' in table


def test_config_spec_with_own_overrides():
    path, options = benchmark.split_config_spec(
        'a/mcl.py:model.montage.num_montages=(4,1,1,1),'
        'model.head_on_used_windows=True')
    assert path == 'a/mcl.py'
    assert options == {
        'model.montage.num_montages': (4, 1, 1, 1),
        'model.head_on_used_windows': True
    }
    assert benchmark.split_config_spec('a/densecl.py') == ('a/densecl.py', {})
    with pytest.raises(ValueError, match='key=value'):
        benchmark.split_config_spec('a/mcl.py:oops')


def test_references_are_sized_like_the_method():
    """At the toy scale (a quarter-width ResNet-18) mmpretrain's DenseCL and
    MoCo v2 get the same backbone, parameter for parameter, and necks that
    read its last stage."""
    from mmengine.config import Config

    import dense_contrast  # noqa: F401
    from dense_contrast.apis.step_timing import reference_cfgs
    from dense_contrast.registry import MODELS
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'densecl',
        'densecl_resnet18_1xb32-coslr-20e_toyscenes.py'))
    ours = MODELS.build(cfg.model).backbone.state_dict()
    for name, ref_cfg in reference_cfgs(cfg.model.to_dict()).items():
        ref = MODELS.build(ref_cfg).backbone.state_dict()
        assert {k: v.shape for k, v in ref.items()} == {
            k: v.shape for k, v in ours.items()}, name
