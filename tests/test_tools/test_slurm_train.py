"""tools/slurm_train.sh: the srun command line it builds (a stand-in srun
prints its arguments; no cluster is needed)."""
import os
import os.path as osp
import subprocess

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'tools', 'slurm_train.sh')
CONFIG = osp.join(ROOT, 'configs', 'densecl',
                  'densecl_resnet50_8xb32-coslr-200e_in1k.py')


def _run(tmp_path, args, **env_vars):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / 'srun'
    fake.write_text('#!/usr/bin/env bash\n'
                    'echo "PYTHONPATH=$PYTHONPATH"\n'
                    'for a in "$@"; do echo "ARG $a"; done\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}',
               **env_vars)
    return subprocess.run(['bash', SCRIPT] + args, env=env,
                          capture_output=True, text=True, timeout=60)


def test_srun_command_line(tmp_path):
    done = _run(tmp_path,
                ['gpu', 'densecl', CONFIG, 'work_dirs/x', '--amp',
                 '--cfg-options', 'model.queue_len=4096'],
                GPUS='16', CPUS_PER_TASK='6', SRUN_ARGS='--qos=high -x n1',
                PYTHON='python3')
    assert done.returncode == 0, done.stderr
    args = [line[4:] for line in done.stdout.splitlines()
            if line.startswith('ARG ')]
    assert args[:9] == [
        '-p', 'gpu', '--job-name=densecl', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=6', '--kill-on-bad-exit=1',
        '--qos=high'
    ]
    assert args[9:11] == ['-x', 'n1']
    assert args[11:] == [
        'python3', '-u', osp.join(ROOT, 'tools', 'train.py'), CONFIG,
        '--work-dir=work_dirs/x', '--launcher=slurm', '--amp',
        '--cfg-options', 'model.queue_len=4096'
    ]
    assert done.stdout.splitlines()[0].startswith(f'PYTHONPATH={ROOT}:')


def test_fewer_gpus_than_a_node(tmp_path):
    done = _run(tmp_path, ['p', 'j', CONFIG, 'w'], GPUS='2')
    assert '--gres=gpu:2' in done.stdout and '--ntasks=2' in done.stdout


def test_usage_and_missing_config(tmp_path):
    done = _run(tmp_path, ['p', 'j'])
    assert done.returncode == 2 and 'usage:' in done.stderr
    done = _run(tmp_path, ['p', 'j', 'nope.py', 'w'])
    assert done.returncode == 1
    assert 'config file nope.py does not exist' in done.stderr
