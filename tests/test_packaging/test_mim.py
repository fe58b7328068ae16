"""``mim train dense_contrast CONFIG`` / ``mim run dense_contrast TOOL``.

mim looks for ``dense_contrast/.mim/{tools,configs}``, which setup.py
creates (links for an editable install, copies for a wheel), and for
``model-index.yml``, which imports one ``metafile.yml`` per method. Nothing
is downloaded here.
"""
import os
import os.path as osp
import runpy

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = ('densecl', 'dsc', 'mcl', 'densecl_pp', 'mocov2', 'simclr')


def _load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _metafiles():
    index = _load_yaml(osp.join(ROOT, 'model-index.yml'))
    return [osp.join(ROOT, p) for p in index['Import']]


def _fake_repository(root):
    os.makedirs(osp.join(root, 'dense_contrast'))
    os.makedirs(osp.join(root, 'tools', 'analysis_tools'))
    os.makedirs(osp.join(root, 'configs', 'densecl'))
    for path, text in [('tools/train.py', 'print(1)\n'),
                       ('tools/analysis_tools/get_flops.py', '\n'),
                       ('configs/densecl/a.py', 'x = 1\n'),
                       ('model-index.yml', 'Import: []\n')]:
        with open(osp.join(root, path), 'w') as f:
            f.write(text)


@pytest.mark.parametrize('mode', ['symlink', 'copy'])
def test_add_mim_extension_layout(tmp_path, mode):
    add_mim_extension = runpy.run_path(
        osp.join(ROOT, 'setup.py'), run_name='setup_test')['add_mim_extension']
    root = str(tmp_path)
    _fake_repository(root)
    # Twice: the second run replaces what the first one made.
    for _ in range(2):
        assert add_mim_extension(root, mode) == mode
    mim = osp.join(root, 'dense_contrast', '.mim')
    for name in ('tools', 'configs', 'model-index.yml'):
        path = osp.join(mim, name)
        assert osp.islink(path) == (mode == 'symlink'), name
        if mode == 'symlink':
            # Relative, so that the checkout can move.
            assert not osp.isabs(os.readlink(path))
    assert osp.isfile(osp.join(mim, 'tools', 'train.py'))
    assert osp.isfile(osp.join(mim, 'tools', 'analysis_tools',
                               'get_flops.py'))
    assert osp.isfile(osp.join(mim, 'configs', 'densecl', 'a.py'))
    # requirements/ is absent in the fake repository: skipped, no error.
    assert not osp.exists(osp.join(mim, 'requirements'))


def test_add_mim_extension_refuses_unknown_mode(tmp_path):
    add_mim_extension = runpy.run_path(
        osp.join(ROOT, 'setup.py'), run_name='setup_test')['add_mim_extension']
    with pytest.raises(ValueError, match="'symlink' or 'copy'"):
        add_mim_extension(str(tmp_path), 'hardlink')


def test_installed_mim_layout_points_into_the_repository():
    mim = osp.join(ROOT, 'dense_contrast', '.mim')
    if not osp.isdir(mim):
        pytest.skip('dense_contrast/.mim is made by pip install (setup.py)')
    assert osp.isfile(osp.join(mim, 'tools', 'train.py'))
    assert osp.isfile(osp.join(mim, 'tools', 'slurm_train.sh'))
    assert osp.isfile(
        osp.join(mim, 'configs', 'densecl',
                 'densecl_resnet50_8xb32-coslr-200e_in1k.py'))


def test_model_index_imports_one_metafile_per_method():
    metafiles = _metafiles()
    assert sorted(osp.relpath(p, ROOT) for p in metafiles) == sorted(
        f'configs/{m}/metafile.yml' for m in METHODS)
    for path in metafiles:
        assert osp.isfile(path), path


@pytest.mark.parametrize('method', METHODS)
def test_metafile_parses_and_points_to_existing_configs(method):
    path = osp.join(ROOT, 'configs', method, 'metafile.yml')
    meta = _load_yaml(path)
    collections = {c['Name'] for c in meta['Collections']}
    for c in meta['Collections']:
        assert c['Paper']['URL'].startswith('https://arxiv.org/abs/'), path
        assert osp.isfile(osp.join(ROOT, c['README'])), c['README']
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names)), f'{path}: duplicate model names'
    for model in meta['Models']:
        where = f"{path}: model {model['Name']}"
        assert model['In Collection'] in collections, where
        config = model['Config']
        if config.startswith('mmpretrain::'):
            # An mmpretrain recipe, looked up in the installed package.
            import mmpretrain
            config = osp.join(
                osp.dirname(mmpretrain.__file__), '.mim', 'configs',
                config.split('::', 1)[1])
        else:
            config = osp.join(ROOT, config)
        assert osp.isfile(config), f'{where}: Config {config} is missing'
        for downstream in model.get('Downstream') or []:
            assert downstream in names, f'{where}: Downstream {downstream}'
        for result in model.get('Results') or []:
            assert result['Task'] and result['Dataset'], where
            for metric, value in result['Metrics'].items():
                assert isinstance(value, (int, float)), (where, metric)
                assert 0 < value <= 100, (where, metric)
        weights = model.get('Weights')
        if weights is not None:
            assert weights.startswith('https://download.openmmlab.com/'), (
                where, weights)


#: Every result the metafiles list: the papers' reported numbers (DenseCL's
#: tables, ImageNet-1k 200 epochs, and their MoCo v2 rows; MCL's abstract)
#: and mmpretrain's linear top-1. DSC and DenseCL++ list none: DSC's
#: abstract has no numbers and DenseCL++'s gives only gains.
REPORTED = {
    ('densecl', 'faster-rcnn_r50-c4_densecl-pre_ms-24k_voc0712',
     'Object Detection'): dict(AP=58.7, AP50=82.8, AP75=65.2),
    ('densecl', 'mask-rcnn_r50_fpn_densecl-pre_1x_coco',
     'Object Detection'): {'box AP': 40.3},
    ('densecl', 'mask-rcnn_r50_fpn_densecl-pre_1x_coco',
     'Instance Segmentation'): {'mask AP': 36.4},
    ('densecl', 'fcn_r50-d8_densecl-pre_4xb4-20k_voc12aug-512x512',
     'Semantic Segmentation'): {'mIoU': 69.4},
    ('densecl', 'fcn_r50-d8_densecl-pre_4xb2-40k_cityscapes-769x769',
     'Semantic Segmentation'): {'mIoU': 75.7},
    ('densecl', 'resnet50_densecl-pre_8xb32-linear-steplr-100e_in1k',
     'Image Classification'): {'Top 1 Accuracy': 63.5},
    ('mocov2', 'faster-rcnn_r50-c4_mocov2-pre_ms-24k_voc0712',
     'Object Detection'): dict(AP=57.0, AP50=82.4, AP75=63.6),
    ('mocov2', 'mask-rcnn_r50_fpn_mocov2-pre_1x_coco',
     'Object Detection'): {'box AP': 38.9},
    ('mocov2', 'mask-rcnn_r50_fpn_mocov2-pre_1x_coco',
     'Instance Segmentation'): {'mask AP': 35.5},
    ('mocov2', 'fcn_r50-d8_mocov2-pre_4xb4-20k_voc12aug-512x512',
     'Semantic Segmentation'): {'mIoU': 67.5},
    ('mocov2', 'fcn_r50-d8_mocov2-pre_4xb2-40k_cityscapes-769x769',
     'Semantic Segmentation'): {'mIoU': 74.5},
    ('mocov2', 'resnet50_mocov2-pre_8xb32-linear-steplr-100e_in1k',
     'Image Classification'): {'Top 1 Accuracy': 67.5},
    ('mcl', 'mask-rcnn_r50_fpn_mcl-pre_mcl-fpn-head_1x_coco',
     'Object Detection'): {'box AP': 42.5},
    ('mcl', 'mask-rcnn_r50_fpn_mcl-pre_mcl-fpn-head_1x_coco',
     'Instance Segmentation'): {'mask AP': 38.3},
}


def test_reported_numbers_of_the_papers():
    """Every number in the metafiles, and no other, against the papers'
    tables (DenseCL, MCL), the MoCo v2 rows of DenseCL's tables and
    mmpretrain's linear probes."""
    listed = {}
    for method in METHODS:
        meta = _load_yaml(osp.join(ROOT, 'configs', method, 'metafile.yml'))
        for model in meta['Models']:
            for result in model.get('Results') or []:
                key = (method, model['Name'], result['Task'])
                assert key not in listed, f'{key}: listed twice'
                listed[key] = result['Metrics']
    assert sorted(listed) == sorted(REPORTED)
    for key, metrics in REPORTED.items():
        assert listed[key] == metrics, key


def test_model_index_loads_with_modelindex():
    modelindex = pytest.importorskip('modelindex')
    index = modelindex.load(osp.join(ROOT, 'model-index.yml'))
    names = {m.name for m in index.models}
    assert 'densecl_resnet50_8xb32-coslr-200e_in1k' in names
    assert 'densecl_resnet50_1xb32-coslr-200e_in1k' in names
