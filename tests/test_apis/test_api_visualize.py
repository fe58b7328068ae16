"""dense_contrast.apis.visualize writes the pictures at the documented
sizes; tools/analysis_tools/visualize_dense.py refuses a checkpoint of
another model."""
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config
from PIL import Image

import dense_contrast  # noqa: F401
from dense_contrast.apis import load_model, source_image, write_pictures
from dense_contrast.registry import MODELS

from tiny_run import ROOT, tiny_config_file

TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'visualize_dense.py')


def _pictures(config, checkpoint, index, size, out_dir):
    """What the tool writes for ``--toyscene-index index --size size
    --view-size size``: the paths it prints."""
    return write_pictures(load_model(config, checkpoint),
                          source_image(toyscene_index=index, img_size=size),
                          str(out_dir), size=size, view_size=size)


def test_pca_and_matches_pngs(tmp_path):
    config = tiny_config_file(str(tmp_path / 'tiny.py'))
    model = MODELS.build(Config.fromfile(config).model)
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out_dir = tmp_path / 'vis'
    written = _pictures(config, checkpoint, 1, 64, out_dir)
    expected = {'pca.png': (128, 64), 'matches.png': (128, 64)}
    for name, size in expected.items():
        path = out_dir / name
        assert path.stat().st_size > 0
        with Image.open(path) as img:
            assert img.size == size and img.mode == 'RGB'
            # Not a blank picture: the feature half has several colours.
            right = img.crop((64, 0, 128, 64))
            assert len(right.getcolors(64 * 64)) > 1
    assert not (out_dir / 'clusters.png').exists()  # DenseCL has none
    assert str(out_dir / 'pca.png') in written


def test_checkpoint_of_another_model_is_refused(tmp_path):
    config = tiny_config_file(str(tmp_path / 'tiny.py'))
    cfg = Config.fromfile(config)
    cfg.model.backbone.depth = 34
    checkpoint = str(tmp_path / 'r34.pth')
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()),
               checkpoint)
    done = subprocess.run(
        [sys.executable, TOOL, config, checkpoint, '--toyscene-index', '0',
         '--out-dir', str(tmp_path / 'vis')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert 'checkpoint holds unknown method, ResNet-34, the config builds ' \
        'DenseCL, ResNet-18' in done.stderr


def test_dsc_cluster_map(tmp_path):
    config = osp.join(ROOT, 'configs', 'dsc',
                      'dsc-km_resnet18_1xb32-coslr-20e_toyscenes.py')
    model = MODELS.build(Config.fromfile(config).model)
    checkpoint = str(tmp_path / 'dsc.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out_dir = tmp_path / 'vis'
    assert len(_pictures(config, checkpoint, 2, 96, out_dir)) == 3
    for name in ('pca.png', 'matches.png', 'clusters.png'):
        with Image.open(out_dir / name) as img:
            assert img.size == (192, 96)
