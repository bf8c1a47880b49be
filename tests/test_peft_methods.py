"""LoRA merging, VPT-deep and the BitFit / LN-tune / Partial-k tuning modes
in the registered wrappers (tiny backbones)."""
import copy

import pytest
import torch
from mmengine.utils.dl_utils import is_norm
from tiny_models import (ADAPTER_CFGS, BACKBONES, as_list, build_peft,
                         build_plain, input_for, max_diff, randomize_adapters,
                         supported, WITH_CP)

from mmpeft.adapters import merge_lora
from mmpeft.models.injection import adapter_param_names

VITS = ['mmseg-vit', 'mmpretrain-vit']
LORA_HOSTS = [b for b in BACKBONES if supported(b, 'LoRA')]
# The last two blocks of the tiny backbones, written out independently of
# the wrappers' block tables.
LAST_TWO_BLOCKS = {
    'swin': ('stages.3.blocks.0.', 'stages.3.blocks.1.'),
    'vit': ('layers.2.', 'layers.3.'),
}


def qkv_weights(state_dict):
    return {n: p for n, p in state_dict.items() if n.endswith('qkv.weight')}


@pytest.mark.parametrize('backbone', LORA_HOSTS)
@pytest.mark.parametrize('adapter', ['LoRA', 'LoRA-qkv-proj'])
def test_merged_lora_is_an_upstream_model_with_the_same_outputs(
        backbone, adapter):
    peft = build_peft(backbone, adapter=copy.deepcopy(ADAPTER_CFGS[adapter]))
    randomize_adapters(peft)
    peft.eval()
    plain = build_plain(backbone)
    unmerged_base = copy.deepcopy(plain.state_dict())
    plain.load_state_dict(peft.state_dict(), strict=False)
    x = input_for(backbone)
    with torch.no_grad():
        with_lora = peft(x)
        plain.eval()
        assert max_diff(plain(x), with_lora) > 1e-3  # LoRA changes outputs
        merged = merge_lora(peft)
        assert list(merged) == list(unmerged_base)  # exactly upstream keys
        plain.load_state_dict(merged)
        plain.eval()
        assert max_diff(plain(x), with_lora) <= 1e-5
        # merge_lora leaves the model as it was.
        assert max_diff(peft(x), with_lora) == 0
    assert set(adapter_param_names(peft)) <= set(peft.state_dict())


@pytest.mark.parametrize('backbone', ['mmseg-swin', 'mmpretrain-vit'])
def test_lora_changes_only_the_q_and_v_thirds_of_qkv(backbone):
    peft = build_peft(backbone, adapter=dict(type='LoRA', rank=2))
    randomize_adapters(peft)
    before = qkv_weights(peft.state_dict())
    after = qkv_weights(merge_lora(peft))
    assert before.keys() == after.keys() and before
    for name, weight in before.items():
        q, k, v = (after[name] - weight).chunk(3, dim=0)
        assert q.abs().sum() > 0 and v.abs().sum() > 0, name
        assert torch.count_nonzero(k) == 0, name


def test_merge_lora_needs_lora():
    with pytest.raises(ValueError, match='holds no LoRA adapter'):
        merge_lora(build_peft('mmseg-swin', adapter=dict(type='Mona',
                                                            bottleneck=4)))


@pytest.mark.parametrize('backbone', VITS)
def test_vpt_deep_keeps_shapes_and_grid_and_changes_outputs(backbone):
    plain = build_plain(backbone)
    peft = build_peft(backbone, adapter=dict(type='VPTDeep', num_tokens=3,
                                             patch_size=8))
    result = peft.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(adapter_param_names(peft))
    assert peft.peft_report()['adapter_params'] == 4 * 3 * 32
    seen = []
    for layer in peft.layers:  # runs after the prompt hook, sees its input
        layer.register_forward_pre_hook(
            lambda module, args: seen.append(args[0]))
    plain.eval(), peft.eval()
    x = input_for(backbone, non_square=True)
    with torch.no_grad():
        expected, outputs = as_list(plain(x)), as_list(peft(x))
    assert [o.shape for o in outputs] == [e.shape for e in expected]
    assert max_diff(outputs, expected) > 1e-4
    patches = (32 // 8) * (48 // 8)
    for layer, tokens in zip(peft.layers, seen):
        assert tokens.shape[1] == 1 + 3 + patches  # class token kept
        assert torch.equal(tokens[1, 1:4], layer.adapters.block_input.prompts)


@pytest.mark.parametrize('backbone', VITS)
def test_vpt_deep_gradients_only_on_prompts(backbone):
    peft = build_peft(backbone, adapter=dict(type='VPTDeep', num_tokens=2))
    peft.train()
    loss = sum(o.pow(2).mean() for o in as_list(peft(input_for(backbone))))
    loss.backward()
    prompts = set(adapter_param_names(peft))
    assert len(prompts) == len(peft.layers)
    for name, param in peft.named_parameters():
        if name in prompts:
            assert param.grad is not None and param.grad.abs().sum() > 0
        else:
            assert not param.requires_grad and param.grad is None, name


def test_vpt_deep_with_cp_gives_same_outputs_and_gradients():
    models = [
        build_peft('mmseg-vit', adapter=dict(type='VPTDeep', num_tokens=2),
                   with_cp=with_cp) for with_cp in (False, True)
    ]
    models[1].load_state_dict(models[0].state_dict())
    x = input_for('mmseg-vit')
    results = []
    for model in models:
        model.train()
        outs = as_list(model(x))
        sum(o.pow(2).mean() for o in outs).backward()
        results.append((outs, [p.grad for p in model.parameters()
                               if p.grad is not None]))
    (outs0, grads0), (outs1, grads1) = results
    assert max_diff(outs0, outs1) <= 1e-6 and len(grads0) == len(grads1) == 4
    for g0, g1 in zip(grads0, grads1):
        assert torch.allclose(g0, g1, atol=1e-6)


def test_vpt_deep_option_errors():
    with pytest.raises(ValueError, match='adapter.num_tokens must be an '
                       r'integer >= 1, got 0'):
        build_peft('mmpretrain-vit', adapter=dict(type='VPTDeep',
                                                  num_tokens=0))


def expected_trainable(backbone, model, tuning):
    """The parameter names a tuning mode trains, by its definition."""
    named = dict(model.named_parameters())
    if tuning == 'bitfit':
        return {n for n in named if n.split('.')[-1] == 'bias'}
    if tuning == 'norm':
        return {f'{m}.{p}' for m, module in model.named_modules()
                if is_norm(module)
                for p, _ in module.named_parameters(recurse=False)}
    blocks = LAST_TWO_BLOCKS['swin' if 'swin' in backbone else 'vit']
    return {n for n in named if n.startswith(blocks)}


MODES = [dict(tuning='bitfit'), dict(tuning='norm'),
         dict(tuning='partial', partial_blocks=2)]


@pytest.mark.parametrize('backbone', list(BACKBONES))
@pytest.mark.parametrize('mode', MODES, ids=lambda m: m['tuning'])
def test_tuning_modes_train_their_selection_only(backbone, mode):
    model = build_peft(backbone, **mode)
    expected = expected_trainable(backbone, model, mode['tuning'])
    assert expected
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected
    report = model.peft_report()
    assert report['adapter_params'] == 0
    assert report['backbone_other_trainable'] == sum(
        p.numel() for n, p in model.named_parameters() if n in expected)
    model.train()
    loss = sum(o.pow(2).mean() for o in as_list(model(input_for(backbone))))
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == expected


def test_tuning_modes_add_to_adapters_and_extra_trainable():
    model = build_peft('mmseg-swin', tuning='bitfit',
                       adapter=dict(type='LoRA', rank=2),
                       extra_trainable=[r'^norm3\.weight$'])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    biases = expected_trainable('mmseg-swin', model, 'bitfit')
    assert trainable == biases | set(adapter_param_names(model)) | {
        'norm3.weight'}


@pytest.mark.parametrize('backbone', WITH_CP)
@pytest.mark.parametrize('mode', MODES, ids=lambda m: m['tuning'])
def test_tuning_modes_with_cp_give_same_gradients(backbone, mode):
    models = [build_peft(backbone, with_cp=with_cp, **mode)
              for with_cp in (False, True)]
    models[1].load_state_dict(models[0].state_dict())
    x = input_for(backbone)
    results = []
    for model in models:
        model.train()
        loss = sum(o.pow(2).mean() for o in as_list(model(x)))
        loss.backward()
        results.append({n: p.grad for n, p in model.named_parameters()
                        if p.grad is not None})
    assert results[0].keys() == results[1].keys() and results[0]
    for name, grad in results[0].items():
        assert torch.allclose(grad, results[1][name], atol=1e-6), name
