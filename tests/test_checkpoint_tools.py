"""publish_model, export_model and the shared-backbone multi-task API."""
import os
import runpy
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from toy_runner import peft_backbone_cfg, train_toy

from mmpeft.apis import SharedBackboneTasks, init_peft_model
from mmpeft.checkpoint.publish import publish, verify

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def toy_config(base):
    return Config(dict(
        model=dict(type='TinyPEFTRegressor', backbone=peft_backbone_cfg(base)),
        default_scope='mmpretrain'))


def test_publish_names_by_hash_and_strips_training_state(trained, tmp_path):
    _, work, _ = trained
    # 'depth.pth' is what upstream's rstrip('.pth') turns into 'de'.
    path = publish(str(work / 'iter_4.pth'), str(tmp_path / 'depth.pth'))
    name = os.path.basename(path)
    assert name.startswith('depth-') and len(name) == len('depth-') + 12
    assert verify(path) == name[6:14]
    published = torch.load(path)
    assert set(published) == {'state_dict', 'meta'}
    with open(path, 'ab') as f:
        f.write(b'tampered')
    with pytest.raises(ValueError, match='hashes to'):
        verify(path)


def test_publish_adapter_only_from_a_full_checkpoint(tmp_path):
    _, work, runner = train_toy(tmp_path, adapter_only=False)
    full = torch.load(work / 'iter_4.pth')
    assert any(k.startswith('backbone.patch_embed') for k in full[
        'state_dict'])
    path = publish(str(work / 'iter_4.pth'), str(tmp_path / 'toy.pth'),
                   adapter_only=True)
    small = torch.load(path)
    trainable = {n for n, p in runner.model.named_parameters()
                 if p.requires_grad}
    assert set(small['state_dict']) == trainable
    assert small['meta']['peft']['adapter_only'] is True
    assert os.path.getsize(path) < os.path.getsize(work / 'iter_4.pth')


def test_publish_cli_verify_exit_codes(trained, tmp_path):
    _, work, _ = trained
    tool = os.path.join(ROOT, 'tools', 'publish_model.py')
    run = subprocess.run(
        [sys.executable, tool, str(work / 'iter_4.pth'),
         str(tmp_path / 'm.pth')], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    published = run.stdout.strip()
    ok = subprocess.run([sys.executable, tool, '--verify', published])
    assert ok.returncode == 0
    renamed = tmp_path / 'm-00000000.pth'
    os.rename(published, renamed)
    bad = subprocess.run([sys.executable, tool, '--verify', str(renamed)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and 'hashes to' in bad.stderr


def test_export_merges_base_and_adapters(trained, tmp_path, monkeypatch):
    base, work, runner = trained
    config = tmp_path / 'toy_config.py'
    config.write_text(
        "custom_imports = dict(imports=['toy_runner'])\n"
        "default_scope = 'mmpretrain'\n"
        f'model = {toy_config(base).model.to_dict()!r}\n')
    out = tmp_path / 'full.pth'
    monkeypatch.setattr(sys, 'argv', [
        'export_model.py', str(config), str(work / 'iter_4.pth'), str(out)])
    runpy.run_path(os.path.join(ROOT, 'tools', 'export_model.py'),
                   run_name='__main__')
    exported = torch.load(out)['state_dict']
    expected = runner.model.state_dict()
    assert exported.keys() == expected.keys()
    for key in expected:
        assert torch.equal(exported[key], expected[key]), key


def test_export_merge_lora_writes_the_model_without_lora(tmp_path,
                                                       monkeypatch):
    from mmengine.runner import Runner
    from toy_runner import HOOK, runner_cfg, save_plain_vit
    base = tmp_path / 'base.pth'
    save_plain_vit(base)
    lora = dict(peft_backbone_cfg(base), adapter=dict(type='LoRA', rank=2))
    runner = Runner.from_cfg(runner_cfg(tmp_path / 'work', 2, backbone=lora,
                                        custom_hooks=HOOK))
    runner.train()
    config = tmp_path / 'lora_config.py'
    config.write_text(
        "custom_imports = dict(imports=['toy_runner'])\n"
        "default_scope = 'mmpretrain'\n"
        f"model = {dict(type='TinyPEFTRegressor', backbone=lora)!r}\n")
    out = tmp_path / 'merged.pth'
    monkeypatch.setattr(sys, 'argv', [
        'export_model.py', str(config), str(tmp_path / 'work' / 'iter_2.pth'),
        str(out), '--merge-lora'])
    runpy.run_path(os.path.join(ROOT, 'tools', 'export_model.py'),
                   run_name='__main__')
    exported = torch.load(out)
    # Loads, strictly, into the same model without the adapter.
    no_lora = toy_config(base)
    no_lora.model.backbone = dict(tuning='frozen')
    plain = init_peft_model(no_lora, str(out))
    assert '.adapters.' not in ''.join(exported['state_dict'])
    assert exported['meta']['peft']['lora_merged'] is True
    x = torch.randn(2, 3, 32, 32)
    target = torch.zeros(2, 16)
    with torch.no_grad():
        expected = runner.model.eval()(x, target)[0]['error']
        assert torch.allclose(plain(x, target)[0]['error'], expected,
                              atol=1e-5)


def test_shared_backbone_switches_tasks(tmp_path):
    base, work_a, _ = train_toy(tmp_path, seed=0)
    _, work_b, _ = train_toy(tmp_path, seed=1)
    ckpt_a, ckpt_b = str(work_a / 'iter_4.pth'), str(work_b / 'iter_4.pth')
    tasks = SharedBackboneTasks()
    tasks.add('a', toy_config(base), ckpt_a)
    tasks.add('b', toy_config(base), ckpt_b)
    x = torch.randn(2, 3, 32, 32)
    target = torch.zeros(2, 16)
    reference = {
        name: init_peft_model(toy_config(base), ckpt)(x, target)[0]['error']
        for name, ckpt in (('a', ckpt_a), ('b', ckpt_b))
    }
    assert reference['a'] != reference['b']
    with torch.no_grad():
        for name in ('a', 'b', 'a'):
            model = tasks.use(name)
            assert model.backbone is tasks.backbone
            error = model(x, target)[0]['error']
            assert torch.allclose(error, reference[name], atol=1e-6)
    with pytest.raises(KeyError, match="unknown task 'c'"):
        tasks.use('c')
