"""E3VA's side path: the model starts as the frozen one, the frozen stream
is never changed, backward never enters a block of the backbone (nothing a
block computes is saved for it) and gradients reach only the side path."""
import copy
import re

import pytest
import torch
from tiny_models import as_list, build_peft, build_plain, randomize_adapters

from mmpeft.models.injection import adapter_param_names

SWINS = ['mmseg-swin', 'mmdet-swin', 'mmpretrain-swin']
E3VA = dict(type='E3VA', bottleneck=4, dropout=0.0)
NORMS = r'^norm\d\.'


def swin_blocks(model):
    return [block for stage in model.stages for block in stage.blocks]


def build_e3va(backbone, **overrides):
    options = dict(adapter=copy.deepcopy(E3VA), extra_trainable=[NORMS])
    options.update(overrides)
    return build_peft(backbone, **options)


def inputs():
    return torch.randn(2, 3, 64, 64)


@pytest.mark.parametrize('backbone', SWINS)
def test_starts_as_the_frozen_model_and_never_changes_its_stream(backbone):
    model = build_e3va(backbone)
    plain = build_plain(backbone)
    missing, unexpected = plain.load_state_dict(model.state_dict(),
                                                strict=False)
    assert not missing and all('.adapters.' in k for k in unexpected)
    x = inputs()
    plain.eval()  # upstream Swin's train() returns None: no chaining
    reference = as_list(plain(x))
    assert all(torch.equal(a, b)
               for a, b in zip(as_list(model.eval()(x)), reference))

    # Trained adapters change what the decoder sees, never the frozen
    # stream the blocks hand each other.
    randomize_adapters(model)
    streams = {}
    for name, m in (('plain', plain), ('e3va', model)):
        streams[name] = []
        for block in swin_blocks(m):
            block.register_forward_hook(
                lambda mod, args, out, s=streams[name]: s.append(out))
    outs = as_list(model(x))
    as_list(plain(x))
    assert all(torch.equal(a, b)
               for a, b in zip(streams['plain'], streams['e3va']))
    assert all(not torch.allclose(a, b, atol=1e-4)
               for a, b in zip(outs, reference))


def module_names_stack(model):
    """Hooks keeping the name of the innermost running module of
    ``model``; returns that stack."""
    stack = []

    def leave(module, args, output):
        stack.pop()

    for name, module in model.named_modules():
        module.register_forward_pre_hook(
            lambda m, a, n=name: stack.append(n))
        module.register_forward_hook(leave)
    return stack


# Where the side path may keep tensors for backward: its adapters, the
# patch mergings it calls on the adapted stream, the stage output norms.
SIDE_PATH = re.compile(r'\.adapters\.|\.downsample(\.|$)|^norm\d$')


@pytest.mark.parametrize('backbone', SWINS)
def test_no_block_of_the_backbone_saves_anything_for_backward(backbone):
    model = build_e3va(backbone).train()
    stack = module_names_stack(model)
    saved_in = []

    def pack(tensor):
        saved_in.append(stack[-1] if stack else '<backbone>')
        return tensor

    block_outputs = []
    for block in swin_blocks(model):
        block.register_forward_hook(
            lambda m, a, out: block_outputs.append(out))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = as_list(model(inputs()))
    assert saved_in, 'the side path saved nothing: is it wired?'
    outside = sorted({n for n in saved_in if not SIDE_PATH.search(n)})
    assert outside == []
    assert any('.adapters.' in n for n in saved_in)
    # The stream between blocks carries no graph at all ...
    assert all(o.grad_fn is None and not o.requires_grad
               for o in block_outputs)
    # ... while every stage output the decoder reads does.
    assert all(o.requires_grad for o in outs)


@pytest.mark.parametrize('backbone', SWINS)
def test_gradients_reach_only_the_side_path_and_the_output_norms(backbone):
    model = build_e3va(backbone, adapter_blocks=[1, 4, 7]).train()
    randomize_adapters(model)
    sum(o.pow(2).mean() for o in as_list(model(inputs()))).backward()
    adapters = set(adapter_param_names(model))
    assert len(adapters) == 3 * 2 * 4  # blocks x sources x (w, b) x 2
    for name, param in model.named_parameters():
        trains = name in adapters or re.search(NORMS, name) is not None
        assert param.requires_grad == trains, name
        if trains:
            assert param.grad is not None and param.grad.abs().sum() > 0, \
                name
        else:
            assert param.grad is None, name


def test_zero_init_gives_the_up_projections_a_gradient():
    model = build_e3va('mmseg-swin').train()
    sum(o.sum() for o in as_list(model(inputs()))).backward()
    for name, param in model.named_parameters():
        if '.adapters.' in name and '.up.' in name:
            assert param.grad.abs().sum() > 0, name


def test_with_cp_and_a_trainable_backbone_give_the_same_results():
    """Under with_cp the blocks are recomputed in backward (their biases
    train here); the side path must not be fed a second time."""
    models = [build_e3va('mmseg-swin', tuning='bitfit', with_cp=with_cp)
              for with_cp in (False, True)]
    randomize_adapters(models[0])
    models[1].load_state_dict(models[0].state_dict())
    x = inputs()
    grads = []
    for model in models:
        model.train()
        sum(o.pow(2).mean() for o in as_list(model(x))).backward()
        grads.append({n: p.grad for n, p in model.named_parameters()
                      if p.requires_grad})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name],
                              atol=1e-6), name


def test_a_deep_copy_has_its_own_side_path():
    model = build_e3va('mmseg-swin').eval()
    randomize_adapters(model)
    twin = copy.deepcopy(model)
    x = inputs()
    expected = as_list(model(x))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.adapters.' in name:
                param.zero_()
    assert all(torch.equal(a, b) for a, b in zip(as_list(twin(x)), expected))


def test_parameter_count_is_closed_form():
    model = build_e3va('mmseg-swin')
    channels = [16] * 2 + [32] * 2 + [64] * 2 + [128] * 2
    d = E3VA['bottleneck']
    per_adapter = [2 * c * d + d + c for c in channels]
    assert model.peft_report()['adapter_params'] == 2 * sum(per_adapter)


def test_vit_is_refused_naming_the_wrapper_to_use():
    with pytest.raises(ValueError, match='PEFTSwinTransformer'):
        build_peft('mmseg-vit', adapter=copy.deepcopy(E3VA))


@pytest.mark.parametrize('sources', ['ffn', ('attn', 'attn'), ()])
def test_bad_sources_are_refused(sources):
    with pytest.raises(ValueError, match='adapter.sources'):
        build_e3va('mmseg-swin', adapter=dict(E3VA, sources=sources))


def test_adapters_after_the_last_output_are_refused():
    with pytest.raises(ValueError, match='block 7'):
        build_e3va('mmseg-swin', out_indices=(0, 1, 2),
                   extra_trainable=[], adapter_blocks=[3, 7])


def test_no_graph_under_no_grad():
    model = build_e3va('mmseg-swin').eval()
    with torch.no_grad():
        assert not any(o.requires_grad for o in as_list(model(inputs())))
