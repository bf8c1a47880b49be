"""The demo configs through the real launch tools: a 2-process (gloo)
training with tools/dist_train.sh, and a run killed with SIGKILL after a
checkpoint that resumes with --resume to the same weights as an
uninterrupted run."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmpeft.datasets import generate_demo_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, 'configs', 'demo',
                      'iconformer_swin-t_upernet_demo-target-64x64.py')


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    out = tmp_path_factory.mktemp('data')
    generate_demo_data(str(out), num_train=16, num_val=4,
                       datasets=('seg_target', ))
    return out / 'seg_target'


def cfg_options(data_root, max_iters, interval):
    """A short run of the demo config on the small data, without the
    pretrained checkpoint and without model randomness (dropout, drop
    path), so two runs with one seed give identical weights on CPU."""
    return [
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2',
        'model.backbone.init_cfg=None',
        'model.backbone.drop_path_rate=0.0',
        'model.backbone.adapter.dropout=0.0',
        'model.decode_head.dropout_ratio=0.0',
        'model.auxiliary_head.dropout_ratio=0.0',
        f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={max_iters + 1}',
        f'default_hooks.checkpoint.interval={interval}',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1',
        'randomness.seed=0',
    ]


def env():
    return dict(os.environ, OMP_NUM_THREADS='1',
                PYTHON=sys.executable)


def test_two_process_training_on_cpu(demo_data, tmp_path):
    work = tmp_path / 'dist'
    run = subprocess.run(
        ['bash', os.path.join(ROOT, 'tools', 'dist_train.sh'), CONFIG, '2',
         '--work-dir', str(work), *cfg_options(demo_data, 2, 2)],
        cwd=ROOT, env=dict(env(), PORT='29517'), capture_output=True,
        text=True, timeout=600)
    # torchrun exits 0 only when every rank did.
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert 'No CUDA: distributed over CPU processes with gloo' in output
    assert (work / 'iter_2.pth').exists()
    log = next(work.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log


def train_command(work, max_iters, *extra):
    return [sys.executable, os.path.join(ROOT, 'tools', 'train.py'), CONFIG,
            '--work-dir', str(work), *extra]


def run_to_end(command):
    run = subprocess.run(command, cwd=ROOT, env=env(), capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]


def test_killed_run_resumes_to_the_same_weights(demo_data, tmp_path):
    options = cfg_options(demo_data, 8, 2)
    whole = tmp_path / 'whole'
    run_to_end(train_command(whole, 8, *options))

    killed = tmp_path / 'killed'
    process = subprocess.Popen(train_command(killed, 8, *options), cwd=ROOT,
                               env=env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / 'iter_4.pth').exists():
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / 'iter_8.pth').exists(), 'finished before the kill'
    # The worst moment to be killed: while mmengine rewrote the pointer.
    (killed / 'last_checkpoint').write_text('')

    run_to_end(train_command(killed, 8, *options, '--resume'))
    final = torch.load(killed / 'iter_8.pth')
    expected = torch.load(whole / 'iter_8.pth')
    assert final['meta']['iter'] == expected['meta']['iter'] == 8
    for key, value in expected['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key
