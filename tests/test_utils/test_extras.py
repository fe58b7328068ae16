"""Optional dependencies: the package imports and pretrains without mmdet and
mmseg (the ``downstream`` extra), names the extra when a downstream part is
used without them, and keeps its downstream names working when they are
installed.

Each check runs in a fresh interpreter: in the test process mmdet is long
imported by other tests.
"""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Makes every import of mmdet and mmseg (and their submodules) fail, as if
# the packages were not installed.
BLOCK_DOWNSTREAM = textwrap.dedent('''
    import sys

    class BlockDownstream:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('mmdet', 'mmseg'):
                raise ModuleNotFoundError(
                    f'No module named {name!r}', name=name)
            return None

    sys.meta_path.insert(0, BlockDownstream())
''')

INSTALL_HINT = "pip install -e '.[downstream]'"


def _run(code: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, '-c', code],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.timeout(300)
def test_pretraining_works_without_mmdet_and_mmseg():
    code = BLOCK_DOWNSTREAM + textwrap.dedent(f'''
        import torch
        from mmengine.config import Config
        from mmengine.registry import DefaultScope

        import dense_contrast
        import dense_contrast.apis
        from dense_contrast.registry import METRICS, MODELS
        from dense_contrast.utils import MissingExtraError

        loaded = sorted(m for m in sys.modules
                        if m.split('.')[0] in ('mmdet', 'mmseg'))
        assert not loaded, loaded

        # A toy pretraining model builds and computes its loss.
        cfg = Config.fromfile(
            'configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes.py')
        cfg.model.queue_len = 16
        with DefaultScope.overwrite_default_scope('dense_contrast'):
            model = MODELS.build(cfg.model)
        views = [torch.rand(2, 3, 64, 64) for _ in range(2)]
        losses = model.loss(views, [None, None])
        assert all(torch.isfinite(v).all() for v in losses.values()), losses

        # Other metrics of the scope still resolve.
        assert METRICS.get('Accuracy') is not None

        # Every way of reaching the downstream metric names the extra.
        attempts = {{
            'attribute': lambda: dense_contrast.VOCCocoStyleMetric,
            'from-import': lambda: exec(
                'from dense_contrast.evaluation import VOCCocoStyleMetric'),
            'registry': lambda: METRICS.build(
                dict(type='VOCCocoStyleMetric')),
            'scoped registry': lambda: METRICS.get(
                'dense_contrast.VOCCocoStyleMetric'),
        }}
        for how, attempt in attempts.items():
            try:
                attempt()
            except MissingExtraError as err:
                message = str(err)
                assert {INSTALL_HINT!r} in message, (how, message)
                assert 'VOCCocoStyleMetric needs mmdet' in message, message
            else:
                raise AssertionError(how + ': no error without mmdet')
        print('ok')
    ''')
    assert _run(code).stdout.strip().endswith('ok')


@pytest.mark.timeout(300)
def test_downstream_names_resolve_lazily_with_mmdet():
    """``import dense_contrast`` does not import the mmdet-based module; the
    metric still resolves by bare name, as ``dense_contrast.<Name>`` from
    an mmdet config, and by attribute."""
    code = textwrap.dedent('''
        import sys

        from mmengine.registry import DefaultScope

        import dense_contrast
        assert 'dense_contrast.evaluation.voc_metric' not in sys.modules
        assert 'VOCCocoStyleMetric' in dir(dense_contrast.evaluation)

        from dense_contrast.registry import METRICS
        cls = METRICS.get('VOCCocoStyleMetric')
        assert cls is not None and cls.__name__ == 'VOCCocoStyleMetric'
        assert dense_contrast.VOCCocoStyleMetric is cls
        from dense_contrast.evaluation import COCO_STYLE_IOU_THRS
        assert COCO_STYLE_IOU_THRS[0] == 0.5

        from mmdet.registry import METRICS as MMDET_METRICS
        with DefaultScope.overwrite_default_scope('mmdet'):
            metric = MMDET_METRICS.build(
                dict(type='dense_contrast.VOCCocoStyleMetric', nproc=1))
        assert type(metric) is cls
        print('ok')
    ''')
    assert _run(code).stdout.strip().endswith('ok')


def test_extra_names_match_setup():
    """The extra the message names installs the packages it names."""
    from dense_contrast.utils.extras import EXTRA_OF_PACKAGE
    with open(osp.join(ROOT, 'setup.py')) as f:
        setup_text = f.read()
    for distribution, extra in EXTRA_OF_PACKAGE.values():
        assert f"'{extra}': read_requirements('{extra}.txt')" in setup_text
        with open(osp.join(ROOT, 'requirements', f'{extra}.txt')) as f:
            names = [
                line.split('#')[0].split('=')[0].split('>')[0].strip()
                for line in f
            ]
        assert distribution in names, (distribution, extra, names)


def test_import_optional_unknown_package_is_a_programming_error():
    from dense_contrast.utils import import_optional
    with pytest.raises(KeyError):
        import_optional('numpy', 'something')
