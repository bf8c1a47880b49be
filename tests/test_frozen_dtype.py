"""frozen_dtype='bf16': frozen backbone weights stored in bfloat16, the
trainable ones in float32; results within tolerance of float32, bfloat16
AMP on top (BF16AmpOptimWrapper: mmengine's AmpOptimWrapper refuses CPUs),
float32 checkpoints."""
import copy

import pytest
import torch
from tiny_models import as_list, build_peft, build_plain, randomize_adapters

from mmpeft.models.injection import adapter_param_names

# Stated tolerances (tiny Swin, 8 blocks; docs/adapters.md): relative
# error (norm of the difference / norm of the float32 value) of every
# backbone output and of all trainable gradients together.
OUTPUT_TOLERANCE = 0.03
GRAD_TOLERANCE = 0.1
SETTINGS = {
    'AdaptFormer': dict(adapter=dict(type='AdaptFormer', bottleneck=8,
                                     dropout=0.0)),
    'iConFormer': dict(adapter=dict(type='iConFormer', bottleneck=8,
                                    generator_hidden=8, dropout=0.0)),
    'E3VA': dict(adapter=dict(type='E3VA', bottleneck=8, dropout=0.0),
                 extra_trainable=[r'^norm\d\.']),
    'bitfit': dict(tuning='bitfit', adapter=dict(type='LoRA', rank=2)),
    'ln-tune': dict(tuning='norm'),
    'frozen': dict(tuning='frozen'),
}


def rel_error(value, reference):
    return ((value.float() - reference).norm() /
            reference.norm().clamp_min(1e-12)).item()


def projection_loss(outputs):
    """A fixed random projection of the outputs (a sum of squares would
    have no gradient through the final LayerNorms, which normalise it)."""
    gen = torch.Generator().manual_seed(0)
    return sum((o * torch.randn(o.shape, generator=gen)).mean()
               for o in outputs)


def pair(backbone, options):
    """The same model in float32 and with bf16 frozen weights."""
    fp32 = build_peft(backbone, **copy.deepcopy(options))
    randomize_adapters(fp32)
    bf16 = build_peft(backbone, frozen_dtype='bf16', **copy.deepcopy(options))
    bf16.load_state_dict(fp32.state_dict())
    return fp32, bf16


@pytest.mark.parametrize('name', list(SETTINGS))
def test_frozen_weights_are_bf16_and_trainable_ones_fp32(name):
    _, model = pair('mmseg-swin', SETTINGS[name])
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    for n, p in params.items():
        if n in trainable:
            assert p.dtype == torch.float32, n
    bf16 = {n for n, p in params.items() if p.dtype == torch.bfloat16}
    assert bf16 and not bf16 & trainable
    # Only modules that train something of their own keep fp32 frozen
    # weights (a BitFit Linear's weight next to its trainable bias).
    frozen_fp32 = [n for n, p in params.items()
                   if not p.requires_grad and p.dtype == torch.float32]
    owners = {n.rsplit('.', 1)[0] for n in trainable}
    assert all(n.rsplit('.', 1)[0] in owners for n in frozen_fp32)
    frozen_bytes = sum(p.numel() * p.element_size() for n, p in params.items()
                       if n not in trainable)
    frozen_count = sum(p.numel() for n, p in params.items()
                       if n not in trainable)
    if name != 'bitfit':  # every frozen weight is bf16: 2 bytes each
        assert frozen_bytes == 2 * frozen_count


@pytest.mark.parametrize('backbone', ['mmseg-swin', 'mmdet-swin',
                                      'mmpretrain-swin', 'mmpretrain-vit'])
@pytest.mark.parametrize('name', list(SETTINGS))
def test_results_are_within_the_stated_tolerance_of_fp32(backbone, name):
    if name == 'E3VA' and 'vit' in backbone:
        pytest.skip('E3VA needs a hierarchical backbone')
    fp32, bf16 = pair(backbone, SETTINGS[name])
    x = torch.randn(2, 3, 32, 32) if 'vit' in backbone else \
        torch.randn(2, 3, 64, 64)
    results = []
    for model in (fp32, bf16):
        model.train()
        outs = as_list(model(x))
        if name != 'frozen':
            projection_loss(outs).backward()
        results.append((outs, {n: p.grad for n, p in model.named_parameters()
                               if p.requires_grad}))
    (outs32, grads32), (outs16, grads16) = results
    for a, b in zip(outs16, outs32):
        assert a.dtype == torch.float32  # the heads get what they got
        assert rel_error(a, b) <= OUTPUT_TOLERANCE
    assert grads16.keys() == grads32.keys()
    if name == 'frozen':
        return
    assert all(g.dtype == torch.float32 for g in grads16.values())
    # All trainable gradients as one vector: single tensors whose float32
    # gradient nearly cancels (1e-8 next to 1e-3 elsewhere) are all
    # rounding noise in bf16, and weigh nothing in an update.
    flat32 = torch.cat([g.flatten() for g in grads32.values()])
    flat16 = torch.cat([grads16[n].flatten() for n in grads32])
    assert rel_error(flat16, flat32) <= GRAD_TOLERANCE


def test_checkpoints_keep_the_upstream_keys_in_float32():
    _, model = pair('mmseg-swin', SETTINGS['frozen'])
    state = model.state_dict()
    assert all(v.dtype != torch.bfloat16 for v in state.values())
    plain = build_plain('mmseg-swin')
    plain.load_state_dict(state)  # strict: the same keys
    x = torch.randn(1, 3, 64, 64)
    plain.eval()  # upstream Swin's train() returns None: no chaining
    for a, b in zip(as_list(plain(x)), as_list(model.eval()(x))):
        assert rel_error(b, a) <= OUTPUT_TOLERANCE
    # The parameters themselves stay bf16.
    assert model.patch_embed.projection.weight.dtype == torch.bfloat16


def test_adapter_only_keys_are_float32_and_unchanged():
    fp32, bf16 = pair('mmseg-swin', SETTINGS['AdaptFormer'])
    names = adapter_param_names(bf16)
    state16, state32 = bf16.state_dict(), fp32.state_dict()
    for n in names:
        assert torch.equal(state16[n], state32[n]), n


def test_bfloat16_amp_on_cpu_trains():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    model = build_peft('mmseg-swin', frozen_dtype='bf16',
                       **copy.deepcopy(SETTINGS['AdaptFormer']))
    init_default_scope('mmseg')
    optim = build_optim_wrapper(model, dict(
        type='BF16AmpOptimWrapper',
        constructor='PEFTOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-2)))
    before = {n: p.detach().clone() for n, p in model.named_parameters()
              if p.requires_grad}
    model.train()
    for _ in range(2):
        with optim.optim_context(model):
            outs = as_list(model(torch.randn(2, 3, 64, 64)))
            inside = torch.ones(2, 2) @ torch.ones(2, 2)
        assert inside.dtype == torch.bfloat16  # the context autocasts
        loss = sum(o.float().pow(2).mean() for o in outs)
        optim.update_params(loss)
        assert torch.isfinite(loss)
    changed = [n for n, p in model.named_parameters()
               if p.requires_grad and not torch.equal(p, before[n])]
    assert changed and all(model.get_parameter(n).dtype == torch.float32
                           for n in changed)


def test_bad_values_are_refused_naming_the_key():
    with pytest.raises(ValueError, match="frozen_dtype: unknown dtype 'fp8'"):
        build_peft('mmseg-swin', tuning='frozen', frozen_dtype='fp8')
    with pytest.raises(ValueError, match="tuning='full'"):
        build_peft('mmseg-swin', tuning='full', frozen_dtype='bf16')
