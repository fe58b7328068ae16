"""dense_contrast.apis.runner: command lines and the logged subprocess."""
import argparse
import os.path as osp
import sys

import pytest
from mmengine.config import Config, DictAction

from dense_contrast.apis.runner import (REPO_ROOT, RunError,
                                        downstream_command,
                                        format_cfg_options, last_checkpoint,
                                        package_script, repo_path,
                                        run_logged, train_command)

SEG = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'mmsegmentation',
               'fcn_r18-d8_1xb8-100i_toyscenes-128x128.py')


def test_format_options_round_trip():
    options = {'a.b': None, 'c': 3, 'd': 'x/y.pth', 'e': [1, 2]}
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    parsed = parser.parse_args(['--o', *format_cfg_options(options)]).o
    assert parsed == options


def test_train_command_one_and_several_processes():
    train = osp.join(REPO_ROOT, 'tools', 'train.py')
    assert train_command('c.py', 'w', resume=True) == [
        sys.executable, train, 'c.py', '--work-dir', 'w', '--resume'
    ]
    assert train_command('c.py', 'w', 2, {'a': 1}) == [
        'bash', osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), 'c.py', '2',
        '--work-dir', 'w', '--cfg-options', 'a=1'
    ]


def test_downstream_command_uses_the_package_script():
    import mmseg
    cmd = downstream_command(SEG, Config.fromfile(SEG), 'w', 1, {'a': 1})
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                      'train.py')
    assert cmd == [sys.executable, script, SEG, '--work-dir', 'w',
                   '--cfg-options', 'a=1']


def test_downstream_command_with_checkpoint_runs_the_test_script(
        monkeypatch):
    import mmseg
    monkeypatch.delenv('PORT', raising=False)
    cfg = Config.fromfile(SEG)
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                      'test.py')
    assert downstream_command(SEG, cfg, 'w', 1, {'a': 1},
                              checkpoint='c.pth') == [
        sys.executable, script, SEG, 'c.pth', '--work-dir', 'w',
        '--cfg-options', 'a=1'
    ]
    assert downstream_command(SEG, cfg, 'w', 2, checkpoint='c.pth') == [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29500', script, SEG, 'c.pth', '--launcher', 'pytorch',
        '--work-dir', 'w'
    ]


def test_package_script_rejects_unknown_tools_and_pretraining_tests():
    cfg = Config.fromfile(SEG)
    with pytest.raises(ValueError, match="tool must be 'train' or 'test', "
                       "got 'eval'"):
        package_script(cfg, 'eval')
    pretraining = Config(dict(default_scope='dense_contrast'))
    assert package_script(pretraining) == osp.join(REPO_ROOT, 'tools',
                                                   'train.py')
    with pytest.raises(RunError, match='pretraining configs have no test'):
        package_script(pretraining, 'test')


def test_last_checkpoint_reads_the_runner_pointer(tmp_path):
    assert last_checkpoint(str(tmp_path)) is None
    (tmp_path / 'last_checkpoint').write_text('/w/epoch_2.pth\n')
    assert last_checkpoint(str(tmp_path)) == '/w/epoch_2.pth'


def test_repo_path_names_a_missing_file():
    assert repo_path('tools', 'train.py') == osp.join(REPO_ROOT, 'tools',
                                                      'train.py')
    with pytest.raises(FileNotFoundError, match='needs a source checkout'):
        repo_path('tools', 'nope.py')


def test_run_logged_writes_the_log_and_fails_with_its_tail(tmp_path):
    log = str(tmp_path / 'logs' / 'job.log')
    # The child finds this checkout first on its PYTHONPATH.
    ok = [sys.executable, '-c',
          'import os; print(os.environ["PYTHONPATH"].split(os.pathsep)[0])']
    assert run_logged(ok, log, 'a job') >= 0
    assert open(log).read() == REPO_ROOT + '\n'
    run_logged(ok, log, 'a job', append=True)
    assert open(log).read() == 2 * (REPO_ROOT + '\n')
    bad = [sys.executable, '-c',
           'print(*range(40), sep="\\n"); raise SystemExit(3)']
    with pytest.raises(RunError) as err:
        run_logged(bad, log, 'a bad job')
    message = str(err.value)
    assert message.startswith('a bad job failed (exit 3); command: ')
    assert message.endswith('\n'.join(map(str, range(10, 40))) + '\n')
    assert '\n9\n' not in message
