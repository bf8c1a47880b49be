"""Adapter-only checkpoints: what is saved, resuming, testing on the base
weights, and the errors for a wrong base or a different adapter layout."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.runner import Runner
from toy_runner import (ADAPTER, HOOK, peft_backbone_cfg, runner_cfg,
                        save_plain_vit)

from mmpeft.checkpoint import CheckpointError, file_sha256



def test_adapter_only_checkpoint_holds_what_was_trained(trained):
    base, work, runner = trained
    saved = torch.load(work / 'iter_4.pth')
    keys = set(saved['state_dict'])
    model = runner.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert keys == trainable  # adapters + head; no frozen backbone weight
    assert all(k.startswith('head.') or '.adapters.' in k for k in keys)
    peft = saved['meta']['peft']
    assert peft['adapter_only'] is True
    assert peft['base'] == dict(checkpoint=str(base),
                                sha256=file_sha256(str(base)))
    assert 'optimizer' in saved  # resuming still has its state


def test_resume_from_adapter_only_checkpoint(trained, tmp_path):
    base, work, runner = trained
    resumed = Runner.from_cfg(runner_cfg(
        work, 6, backbone=peft_backbone_cfg(base), custom_hooks=HOOK,
        resume=True))
    resumed.train()
    assert resumed.iter == 6


def test_testing_loads_base_then_adapters(trained, tmp_path):
    base, work, runner = trained
    trained_state = runner.model.state_dict()
    tester = Runner.from_cfg(runner_cfg(
        tmp_path / 'test', 4, backbone=peft_backbone_cfg(base),
        custom_hooks=HOOK, load_from=str(work / 'iter_4.pth')))
    tester.test()
    tested_state = tester.model.state_dict()
    assert tested_state.keys() == trained_state.keys()
    for key, value in trained_state.items():
        assert torch.equal(tested_state[key], value), key


def test_wrong_base_is_an_error_naming_the_expected_one(trained, tmp_path):
    base, work, _ = trained
    other = tmp_path / 'other_base.pth'
    save_plain_vit(other)  # different random weights
    tester = Runner.from_cfg(runner_cfg(
        tmp_path / 'test', 4, backbone=peft_backbone_cfg(other),
        custom_hooks=HOOK, load_from=str(work / 'iter_4.pth')))
    with pytest.raises(CheckpointError,
                       match=f'trained on base weights {base}'):
        tester.test()


def test_other_adapter_layout_is_an_error_listing_keys(trained, tmp_path):
    base, work, _ = trained
    other = dict(ADAPTER, position='sequential')
    tester = Runner.from_cfg(runner_cfg(
        tmp_path / 'test', 4, backbone=peft_backbone_cfg(base, other),
        custom_hooks=HOOK, load_from=str(work / 'iter_4.pth')))
    with pytest.raises(KeyError, match=r'(?s)missing adapter keys \(8\): '
                       r'backbone.layers.0.adapters.mlp_sequential.*'
                       r'unexpected adapter keys \(8\): '
                       r'backbone.layers.0.adapters.mlp_parallel'):
        tester.test()


@pytest.mark.parametrize('backbone_options', [
    dict(tuning='bitfit'),
    dict(tuning='norm'),
    dict(tuning='partial', partial_blocks=1),
    dict(adapter=dict(type='LoRA', rank=2)),
    dict(adapter=dict(type='VPTDeep', num_tokens=2, patch_size=8)),
    dict(adapter=dict(type='Mona', bottleneck=4)),
], ids=['bitfit', 'norm', 'partial', 'lora', 'vpt', 'mona'])
def test_adapter_only_checkpoint_keeps_every_method_s_parameters(
        backbone_options, tmp_path):
    base = tmp_path / 'base.pth'
    save_plain_vit(base)
    backbone = dict(backbone_options, init_cfg=ConfigDict(
        type='Pretrained', checkpoint=str(base)))
    runner = Runner.from_cfg(runner_cfg(tmp_path / 'work', 2,
                                        backbone=backbone, custom_hooks=HOOK))
    runner.train()
    saved = torch.load(tmp_path / 'work' / 'iter_2.pth')
    trainable = {n for n, p in runner.model.named_parameters()
                 if p.requires_grad}
    assert set(saved['state_dict']) == trainable
    assert any(k.startswith('backbone.') for k in trainable)
    assert saved['meta']['peft']['adapter_only'] is True
    tester = Runner.from_cfg(runner_cfg(
        tmp_path / 'test', 2, backbone=backbone, custom_hooks=HOOK,
        load_from=str(tmp_path / 'work' / 'iter_2.pth')))
    tester.test()
    trained_state = runner.model.state_dict()
    tested_state = tester.model.state_dict()
    assert tested_state.keys() == trained_state.keys()
    for key, value in trained_state.items():
        assert torch.equal(tested_state[key], value), key
