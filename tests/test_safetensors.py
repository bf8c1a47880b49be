"""Adapter weights as .safetensors: the header's meta, the round trip, every
loading path, and one-line errors for a tampered header or a missing
tensor."""
import json
import os
import runpy
import struct
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from toy_runner import HOOK, peft_backbone_cfg, runner_cfg

from mmpeft import __version__
from mmpeft.apis import SharedBackboneTasks, init_peft_model
from mmpeft.checkpoint import (CheckpointError, load_safetensors,
                               save_safetensors)
from mmpeft.utils import apply_resume

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
META = dict(peft=dict(adapter_only=True,
                      base=dict(checkpoint='base.pth', sha256='ab' * 32),
                      trained_backbone_keys=['backbone.a']),
            dataset_meta=dict(classes=('sky', 'road')), iter=4)


def small_file(tmp_path, name='w.safetensors'):
    state = {'backbone.a': torch.randn(3, 4),
             'head.b': torch.arange(5),
             'head.c': torch.randn(2, dtype=torch.bfloat16)}
    path = str(tmp_path / name)
    save_safetensors(state, META, path)
    return state, path


def test_round_trip_keeps_tensors_dtypes_and_meta(tmp_path):
    state, path = small_file(tmp_path)
    loaded = load_safetensors(path)
    assert loaded['state_dict'].keys() == state.keys()
    for key, value in state.items():
        assert loaded['state_dict'][key].dtype == value.dtype
        assert torch.equal(loaded['state_dict'][key], value), key
    expected = json.loads(json.dumps(META))  # tuples come back as lists
    assert loaded['meta'] == expected
    # Any safetensors reader sees the meta as strings in the header.
    with safe_open(path, framework='pt') as f:
        header = f.metadata()
    assert header['mmpeft_version'] == __version__
    assert header['format'] == 'pt'
    peft = json.loads(header['mmpeft_meta'])['peft']
    assert peft['base']['sha256'] == 'ab' * 32
    assert peft['trained_backbone_keys'] == ['backbone.a']
    assert json.loads(header['mmpeft_keys']) == sorted(state)


def test_writing_refuses_other_suffixes_and_non_tensors(tmp_path):
    with pytest.raises(ValueError, match=r'w\.pth: .*must end in '
                       r'\.safetensors'):
        save_safetensors({}, {}, str(tmp_path / 'w.pth'))
    with pytest.raises(TypeError, match=r"state_dict\['x'\] is a int"):
        save_safetensors({'x': 3}, {}, str(tmp_path / 'w.safetensors'))
    with pytest.raises(ValueError, match=r"meta\['cfg'\] cannot go into"):
        save_safetensors({}, dict(cfg=object()),
                         str(tmp_path / 'w.safetensors'))
    assert not list(tmp_path.iterdir())


def one_line_error(path, match):
    with pytest.raises(CheckpointError) as info:
        load_safetensors(path)
    message = str(info.value)
    assert message.startswith(f'{path}: ') and '\n' not in message
    assert match in message, message


def test_tampered_header_is_a_one_line_error_naming_the_file(tmp_path):
    _, path = small_file(tmp_path)
    data = bytearray(open(path, 'rb').read())
    length = struct.unpack('<Q', data[:8])[0]
    broken = bytearray(data)
    broken[8] = ord('x')  # the header's opening brace
    open(path, 'wb').write(broken)
    one_line_error(path, 'not a readable safetensors file')
    too_long = struct.pack('<Q', length + 1000) + data[8:]
    open(path, 'wb').write(too_long)
    one_line_error(path, 'not a readable safetensors file')
    header = json.loads(data[8:8 + length])
    header['__metadata__']['mmpeft_meta'] = '{"peft": '
    text = json.dumps(header).encode()
    open(path, 'wb').write(struct.pack('<Q', len(text)) + text +
                           data[8 + length:])
    one_line_error(path, "header entry 'mmpeft_meta' is not valid JSON")


def test_missing_tensor_is_a_one_line_error_naming_it(tmp_path):
    state, path = small_file(tmp_path)
    with safe_open(path, framework='pt') as f:
        header = f.metadata()
    for dropped in ('head.b', 'backbone.a'):
        rest = {k: v for k, v in state.items() if k != dropped}
        save_file(rest, path, metadata=header)
        one_line_error(path, f'1 tensor(s) named in its header are missing '
                       f'from the file: {dropped}')
    save_file(dict(state, extra=torch.zeros(1)), path, metadata=header)
    one_line_error(path, 'not named in its header: extra')
    with pytest.raises(CheckpointError, match='no such checkpoint file'):
        load_safetensors(str(tmp_path / 'none.safetensors'))


def test_a_plain_safetensors_file_loads_as_a_state_dict(tmp_path):
    path = str(tmp_path / 'plain.safetensors')
    save_file({'w': torch.ones(2)}, path)
    loaded = load_safetensors(path)
    assert loaded['meta'] == {}
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))


def test_mmengine_loads_local_safetensors_and_leaves_urls_alone(tmp_path):
    state, path = small_file(tmp_path)
    loaded = CheckpointLoader.load_checkpoint(path)
    assert torch.equal(loaded['state_dict']['backbone.a'],
                       state['backbone.a'])
    backend = CheckpointLoader._get_checkpoint_loader
    assert backend(path).__name__ == 'load_from_safetensors'
    assert backend('https://x.org/a.safetensors').__name__ == \
        'load_from_http'
    assert backend('s3://bucket/a.safetensors').__name__ == 'load_from_ceph'
    assert backend(str(tmp_path / 'a.pth')).__name__ == 'load_from_local'


def test_resume_from_safetensors_is_refused():
    cfg = Config(dict(work_dir='w'))
    with pytest.raises(ValueError, match='x.safetensors: a .safetensors '
                       'file holds weights only'):
        apply_resume(cfg, 'x.safetensors')


CONFIG = '''
custom_imports = dict(imports=['toy_runner'])
_toy = __import__('toy_runner')
_cfg = _toy.runner_cfg({work!r}, 4, backbone=_toy.peft_backbone_cfg({base!r}),
                       custom_hooks=_toy.HOOK)
globals().update(_cfg)
del _cfg, _toy
'''


def export(config, checkpoint, out, *options):
    argv = ['export_model.py', str(config), str(checkpoint), str(out),
            *options]
    old, sys.argv = sys.argv, argv
    try:
        runpy.run_path(os.path.join(ROOT, 'tools', 'export_model.py'),
                       run_name='__main__')
    finally:
        sys.argv = old


@pytest.fixture
def exported(trained, tmp_path):
    """The toy run's adapters exported as .safetensors and as .pth."""
    base, work, runner = trained
    config = tmp_path / 'toy_config.py'
    config.write_text(CONFIG.format(work=str(tmp_path / 'test'),
                                    base=str(base)))
    out = tmp_path / 'adapters.safetensors'
    export(config, work / 'iter_4.pth', out, '--adapter-only')
    pth = tmp_path / 'adapters.pth'
    export(config, work / 'iter_4.pth', pth, '--adapter-only')
    return base, config, out, pth, runner


def test_export_adapter_only_safetensors_equals_the_pth(exported):
    base, _, out, pth, runner = exported
    trainable = {n for n, p in runner.model.named_parameters()
                 if p.requires_grad}
    tensors = load_file(str(out))
    assert set(tensors) == trainable  # no frozen backbone weight
    legacy = torch.load(pth)
    for key, value in legacy['state_dict'].items():
        assert torch.equal(tensors[key], value), key
    meta = load_safetensors(str(out))['meta']
    assert meta['peft'] == json.loads(json.dumps(legacy['meta']['peft']))
    assert meta['peft']['adapter_only'] is True
    assert meta['peft']['base']['checkpoint'] == str(base)


def test_every_python_path_loads_safetensors(exported, tmp_path):
    base, _, out, _, runner = exported
    expected = runner.model.state_dict()

    def same_as_trained(state):
        assert state.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(state[key], value), key

    config = Config(dict(model=dict(type='TinyPEFTRegressor',
                                    backbone=peft_backbone_cfg(base)),
                         default_scope='mmpretrain'))
    same_as_trained(init_peft_model(config, str(out)).state_dict())
    tasks = SharedBackboneTasks()
    tasks.add('toy', config, str(out))
    same_as_trained(tasks.use('toy').state_dict())
    tester = Runner.from_cfg(runner_cfg(
        tmp_path / 'load_from', 4, backbone=peft_backbone_cfg(base),
        custom_hooks=HOOK, load_from=str(out)))
    tester.test()
    same_as_trained(tester.model.state_dict())


def test_tools_test_takes_safetensors_and_names_a_damaged_one(exported,
                                                              tmp_path):
    _, config, out, _, _ = exported
    env = dict(os.environ, PYTHONPATH=TESTS)

    def test_tool(checkpoint):
        return subprocess.run(
            [sys.executable, os.path.join(ROOT, 'tools', 'test.py'),
             str(config), str(checkpoint), '--dump-metrics',
             str(tmp_path / 'metrics.json')], cwd=ROOT, env=env,
            capture_output=True, text=True)

    run = test_tool(out)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'error' in json.loads((tmp_path / 'metrics.json').read_text())
    tensors = load_file(str(out))
    with safe_open(str(out), framework='pt') as f:
        header = f.metadata()
    dropped = sorted(tensors)[0]
    damaged = tmp_path / 'damaged.safetensors'
    save_file({k: v for k, v in tensors.items() if k != dropped},
              str(damaged), metadata=header)
    run = test_tool(damaged)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f'error: {damaged}: 1 tensor(s) named in its header are missing '
        f'from the file: {dropped}')
    assert 'Traceback' not in run.stderr


def test_export_refuses_a_format_its_suffix_contradicts(exported, tmp_path):
    _, config, out, _, _ = exported
    with pytest.raises(SystemExit):
        export(config, out, tmp_path / 'x.pth', '--format', 'safetensors')
    with pytest.raises(SystemExit):
        export(config, out, tmp_path / 'x.safetensors', '--format', 'pth')
    # From a .safetensors input to a full .pth: the base comes back.
    export(config, out, tmp_path / 'full.pth')
    full = torch.load(tmp_path / 'full.pth')
    assert any(k.startswith('backbone.patch_embed')
               for k in full['state_dict'])
    assert full['meta']['peft']['adapter_only'] is False


def test_base_weights_load_from_a_safetensors_init_cfg(tmp_path):
    from toy_runner import save_plain_vit
    plain = save_plain_vit(tmp_path / 'base.pth')
    base = str(tmp_path / 'base.safetensors')
    save_safetensors(plain.state_dict(), {}, base)
    config = Config(dict(model=dict(type='TinyPEFTRegressor',
                                    backbone=peft_backbone_cfg(base)),
                         default_scope='mmpretrain'))
    backbone = init_peft_model(config).backbone
    loaded = backbone.state_dict()
    for key, value in plain.state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert backbone.base_weights['checkpoint'] == base
