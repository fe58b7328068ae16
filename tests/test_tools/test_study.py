"""tools/study.py --quick writes its table, JSON and plot, reuses
finished runs when run again, and tabulates the finished ones alone with
--finished-only."""
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STUDY = osp.join(ROOT, 'tools', 'study.py')


def _study(work_dir, data_root, *args):
    return subprocess.run(
        [sys.executable, STUDY, '--quick', '--work-dir', work_dir,
         '--data-root', data_root, '--methods', 'random', 'densecl',
         '--seeds', '0', *args],
        capture_output=True, text=True, cwd=ROOT)


def test_quick_study_writes_table_and_plot(tmp_path, tiny_toyscenes):
    data_root, _ = tiny_toyscenes
    work_dir = str(tmp_path / 'study')
    first = _study(work_dir, data_root)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    with open(osp.join(work_dir, 'study.md')) as f:
        table = f.read()
    assert table.startswith(
        '| method | seeds | linear mIoU | knn mIoU | corr acc |')
    assert '| random init | 0 |' in table and '| DenseCL | 0 |' in table
    with open(osp.join(work_dir, 'study.json')) as f:
        study = json.load(f)
    rows = {r['method']: r for r in study['rows']}
    for method in ('random', 'densecl'):
        score = rows[method]['scores']['linear_mIoU']
        assert 0 < score['mean'] <= 100 and score['n'] == 1
    # DenseCL's probe curve holds every epoch of the quick schedule.
    curve = study['runs']['densecl'][0]['curve']
    assert sorted(int(e) for e in curve) == [1, 2]
    with open(osp.join(work_dir, 'probe_curves.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    again = _study(work_dir, data_root)
    assert again.returncode == 0, again.stdout[-3000:]
    assert again.stdout.count('reused') == 2
    assert 'pretraining' not in again.stdout

    # --report-only rebuilds the table and the plot from study.json alone.
    for name in ('study.md', 'probe_curves.png'):
        os.remove(osp.join(work_dir, name))
    report = subprocess.run(
        [sys.executable, STUDY, '--report-only', '--work-dir', work_dir],
        capture_output=True, text=True, cwd=ROOT)
    assert report.returncode == 0, report.stderr[-3000:]
    assert report.stdout == table
    with open(osp.join(work_dir, 'study.md')) as f:
        assert f.read() == table
    assert osp.isfile(osp.join(work_dir, 'probe_curves.png'))

    # --finished-only starts nothing: units not run yet are left out.
    done = _study(work_dir, data_root, '--finished-only', '--methods',
                  'random', 'densecl', 'dsc_km', '--seeds', '0', '1')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count('not finished, left out') == 4
    assert 'pretraining' not in done.stdout
    assert not osp.exists(osp.join(work_dir, 'dsc_km'))
    assert not osp.exists(osp.join(work_dir, 'random', 'seed1'))
    with open(osp.join(work_dir, 'study.md')) as f:
        assert f.read() == table


def test_report_only_names_the_missing_file(tmp_path):
    result = subprocess.run(
        [sys.executable, STUDY, '--report-only', '--work-dir',
         str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert f'{tmp_path}/study.json does not exist' in result.stderr
