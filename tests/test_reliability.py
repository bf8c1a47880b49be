"""No lost work: atomic checkpoints, stopping at the first non-finite loss,
one-line errors for unusable checkpoint files."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from toy_runner import runner_cfg

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
ATOMIC = dict(backend='atomic_local')


def checkpoint_hook(**options):
    return dict(type='CheckpointHook', interval=2, by_epoch=False,
                backend_args=ATOMIC, **options)


KILLED_SAVE = '''
import os, signal, sys
sys.path.insert(0, {tests!r})
from mmengine.fileio import register_backend
from mmengine.runner import Runner
from mmpeft.engine import AtomicLocalBackend
from toy_runner import runner_cfg


class DiesWhileSaving(AtomicLocalBackend):
    """Writes half of iter_4.pth, then the process is killed."""

    @staticmethod
    def _write(f, obj, filepath):
        if filepath.endswith('iter_4.pth'):
            f.write(obj[:len(obj) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        f.write(obj)


register_backend('dies_while_saving', DiesWhileSaving)
cfg = runner_cfg({work!r}, 6)
cfg['default_hooks']['checkpoint'].update(
    max_keep_ckpts=1, backend_args=dict(backend='dies_while_saving'))
Runner.from_cfg(cfg).train()
'''


def test_killed_save_keeps_the_previous_checkpoint(tmp_path):
    work = tmp_path / 'work'
    script = tmp_path / 'train.py'
    script.write_text(KILLED_SAVE.format(tests=TESTS, work=str(work)))
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    # max_keep_ckpts=1 asked mmengine to delete iter_2 before writing
    # iter_4; the deletion waits until a complete new checkpoint exists.
    assert (work / 'iter_2.pth').exists()
    assert not (work / 'iter_4.pth').exists()
    assert len(list(work.glob('.tmp-*iter_4.pth.part'))) == 1
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth')
    assert torch.load(work / 'iter_2.pth')['meta']['iter'] == 2
    cfg = runner_cfg(work, 6, resume=True)
    cfg['default_hooks']['checkpoint'] = checkpoint_hook(max_keep_ckpts=1)
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 6
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_6.pth']
    assert not list(work.glob('.tmp-*'))


@HOOKS.register_module(force=True)
class PoisonHeadAtIteration3(Hook):

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == 2:
            with torch.no_grad():
                runner.model.head.weight.fill_(float('nan'))


def test_non_finite_loss_stops_before_saving(tmp_path):
    cfg = runner_cfg(tmp_path, 6, custom_hooks=[
        dict(type='NonFiniteLossHook'), dict(type='PoisonHeadAtIteration3')])
    cfg['default_hooks']['checkpoint'] = checkpoint_hook()
    cfg['default_hooks']['checkpoint']['interval'] = 1
    runner = Runner.from_cfg(cfg)
    with pytest.raises(FloatingPointError,
                       match=r'non-finite loss at iteration 3: loss = nan'):
        runner.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'iter_1.pth', 'iter_2.pth']
    state = torch.load(tmp_path / 'iter_2.pth')['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values())


TOY_CONFIG = '''
custom_imports = dict(imports=['toy_runner'])
_cfg = __import__('toy_runner').runner_cfg({work!r}, 2)
globals().update(_cfg)
del _cfg
'''


@pytest.mark.parametrize('damage', ['truncated', 'garbage', 'missing'])
def test_unusable_checkpoint_is_a_one_line_error(tmp_path, damage):
    good = tmp_path / 'good.pth'
    torch.save(dict(state_dict={'head.weight': torch.zeros(16, 16)}), good)
    bad = tmp_path / f'{damage}.pth'
    if damage == 'truncated':
        bad.write_bytes(good.read_bytes()[:200])
    elif damage == 'garbage':
        bad.write_bytes(os.urandom(4096))
    config = tmp_path / 'toy_config.py'
    config.write_text(TOY_CONFIG.format(work=str(tmp_path / 'work')))
    env = dict(os.environ, PYTHONPATH=TESTS)
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'test.py'),
         str(config), str(bad)], cwd=ROOT, env=env, capture_output=True,
        text=True)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    expected = ('no such checkpoint file' if damage == 'missing' else
                'cannot load this checkpoint, it is truncated or corrupted')
    assert last.startswith(f'error: {bad}: {expected}'), run.stderr[-3000:]
    assert 'Traceback' not in run.stderr


class RunsCode:
    """Unpickling this would create a folder: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker, ))


def unsafe_checkpoint(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict={'head.weight': torch.zeros(16, 16)},
                    meta=dict(payload=RunsCode(str(marker)))), path)
    return path, marker


def run_tool(tmp_path, *args):
    config = tmp_path / 'toy_config.py'
    config.write_text(TOY_CONFIG.format(work=str(tmp_path / 'work')))
    env = dict(os.environ, PYTHONPATH=TESTS)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', args[0]), str(config),
         *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize('path', ['test.py', 'resume', 'load_from'])
def test_unsafe_checkpoint_refused_by_the_tools(tmp_path, path):
    unsafe, marker = unsafe_checkpoint(tmp_path)
    if path == 'test.py':
        run = run_tool(tmp_path, 'test.py', str(unsafe))
    elif path == 'resume':
        run = run_tool(tmp_path, 'train.py', '--resume', str(unsafe))
    else:
        run = run_tool(tmp_path, 'train.py', '--cfg-options',
                       f'load_from={unsafe}')
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stderr.strip().splitlines()[-1].startswith(
        f'error: {unsafe}: refused, the file holds objects outside the '
        f'weights-only allowlist')
    assert not marker.exists()


def test_unsafe_checkpoint_refused_by_the_python_paths(tmp_path):
    from mmpeft.apis import init_peft_model
    from mmpeft.checkpoint import CheckpointError
    from mmpeft.checkpoint.publish import publish
    from mmpeft.models.converters import load_state_dict_file
    unsafe, marker = unsafe_checkpoint(tmp_path)
    config = dict(model=dict(type='TinyPEFTRegressor'),
                  default_scope='mmpretrain')
    loaders = [
        lambda: init_peft_model(config, str(unsafe)),
        lambda: publish(str(unsafe), str(tmp_path / 'published.pth')),
        lambda: load_state_dict_file(str(unsafe)),
    ]
    for load in loaders:
        with pytest.raises(CheckpointError, match='refused'):
            load()
    assert not marker.exists()
    assert not list(tmp_path.glob('published*'))
