"""Scope resolution: project types, mmpretrain types, and reaching project
types from mmdet and mmseg."""
import pytest
from mmengine.registry import DefaultScope

import dense_contrast
from dense_contrast.models import DenseCL, DenseProjectionNeck, InfoNCEHead
from dense_contrast.registry import DATASETS, HOOKS, MODELS, TRANSFORMS


def test_registries_are_children_of_mmpretrain():
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    assert MODELS.scope == 'dense_contrast'
    assert MODELS.parent is MMPRETRAIN_MODELS


def test_project_types_shadow_and_mmpretrain_types_resolve():
    assert MODELS.get('DenseCL') is DenseCL
    assert MODELS.get('DenseProjectionNeck') is DenseProjectionNeck
    from mmpretrain.models import ResNet, SelfSupDataPreprocessor
    from mmpretrain.models.selfsup import DenseCL as MMPretrainDenseCL
    assert MODELS.get('ResNet') is ResNet
    assert MODELS.get('SelfSupDataPreprocessor') is SelfSupDataPreprocessor
    assert MODELS.get('mmpretrain.DenseCL') is MMPretrainDenseCL
    from mmpretrain.datasets import MultiView, PackInputs
    assert TRANSFORMS.get('MultiView') is MultiView
    assert TRANSFORMS.get('PackInputs') is PackInputs
    from mmpretrain.engine.hooks import DenseCLHook
    assert HOOKS.get('DenseCLHook') is DenseCLHook
    assert DATASETS.get('ToyScenesDataset') is dense_contrast.ToyScenesDataset


def test_default_scope_builds_project_types_by_name():
    with DefaultScope.overwrite_default_scope('dense_contrast'):
        from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
        head = MMPRETRAIN_MODELS.build(dict(type='InfoNCEHead'))
    assert isinstance(head, InfoNCEHead)


@pytest.mark.parametrize('package', ['mmdet', 'mmseg'])
def test_downstream_registries_reach_project_types(package):
    registry = __import__(f'{package}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(package):
        head = registry.build(
            dict(type='dense_contrast.InfoNCEHead', temperature=0.3))
    assert isinstance(head, InfoNCEHead) and head.temperature == 0.3


def test_mmpretrain_types_resolve_in_a_fresh_process():
    """A lookup imports only its own registry's locations; ours list
    mmpretrain's too, so its types resolve without an earlier import of
    mmpretrain.engine (in the test run other tests would hide this)."""
    import subprocess
    import sys
    code = ('import dense_contrast\n'
            'from dense_contrast.registry import HOOKS, MODELS, DATASETS\n'
            "assert HOOKS.get('DenseCLHook') is not None\n"
            "assert MODELS.get('MoCo') is not None\n"
            "assert DATASETS.get('CustomDataset') is not None\n")
    subprocess.run([sys.executable, '-c', code], check=True)
