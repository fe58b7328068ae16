"""tools/analysis_tools/benchmark.py: usage errors name the bad argument
(the measuring itself: tests/test_apis/test_api_benchmark.py)."""
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_missing_config_is_named(tmp_path):
    result = _run(str(tmp_path / 'nope.py'))
    assert result.returncode == 2  # argparse's usage error (SystemExit)
    assert 'nope.py does not exist' in result.stderr


def test_malformed_config_spec_is_a_usage_error():
    result = _run('configs/mcl/x.py:oops')
    assert result.returncode == 2
    assert "expected CONFIG.py:key=value[,...], got 'oops'" in result.stderr
