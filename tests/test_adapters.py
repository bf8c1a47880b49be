"""The adapter modules on their own: init, shapes, grids, iCoN, Mona's
folded convolutions, LoRA's delta and VPT's prompts."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmpeft.adapters import (ADAPTERS, AdaptFormer, Convpass, HoulsbyAdapter,
                             LoRA, Mona, VPTDeep, iConFormer)
from mmpeft.adapters.base import merge_tokens, split_tokens

ALL = [AdaptFormer, Convpass, iConFormer, HoulsbyAdapter, Mona]


def randomize(module, std=0.2):
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, std)
    return module


def test_registry_holds_every_method():
    for cls in ALL + [LoRA, VPTDeep]:
        assert ADAPTERS.get(cls.__name__) is cls


@pytest.mark.parametrize('cls', ALL)
@pytest.mark.parametrize('hw,prefix', [((4, 4), 0), ((3, 5), 1), ((1, 1), 1),
                                       ((5, 2), 0)])
def test_zero_at_init_and_shapes(cls, hw, prefix):
    adapter = cls(24).eval()
    x = torch.randn(2, prefix + hw[0] * hw[1], 24)
    out = adapter(x, hw, prefix)
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0
    randomize(adapter)
    assert adapter(x, hw, prefix).abs().sum() > 0


@pytest.mark.parametrize('cls', ALL)
def test_reset_parameters_restores_identity(cls):
    adapter = randomize(cls(16)).eval()
    adapter.reset_parameters()
    x = torch.randn(1, 9, 16)
    assert torch.count_nonzero(adapter(x, (3, 3))) == 0


def test_grid_tokens_round_trip():
    x = torch.randn(2, 1 + 3 * 5, 7)
    prefix, grid = split_tokens(x, (3, 5), 1)
    assert grid.shape == (2, 7, 3, 5)
    assert torch.equal(grid[1, :, 2, 4], x[1, -1])
    assert torch.equal(merge_tokens(prefix, grid), x)
    with pytest.raises(ValueError, match='3x4 grid'):
        split_tokens(x, (3, 4), 1)


def test_adaptformer_parameter_count_formula():
    adapter = AdaptFormer(768, bottleneck=64)
    assert sum(p.numel() for p in adapter.parameters()) == 2 * 768 * 64 + \
        64 + 768
    assert sum(p.numel() for p in AdaptFormer(768, bottleneck=1).parameters()
               ) * 12 == 27660


def test_adaptformer_layernorm_options_and_learnable_scale():
    adapter = AdaptFormer(8, bottleneck=2, layernorm='in',
                          learnable_scale=True, scale=0.5)
    assert adapter.scale.requires_grad and adapter.scale.item() == 0.5
    with pytest.raises(ValueError, match='layernorm'):
        AdaptFormer(8, layernorm='both')


def test_convpass_identity_conv_init_and_class_token_as_1x1_map():
    adapter = Convpass(16, bottleneck=4).eval()
    centre = adapter.conv.weight[:, :, 1, 1]
    assert torch.equal(centre, torch.eye(4))
    assert adapter.conv.weight.abs().sum() == 4
    randomize(adapter)
    x = torch.randn(2, 1 + 9, 16)
    out = adapter(x, (3, 3), 1)
    # The class token alone, as a 1x1 map, must give the same result.
    alone = adapter(x[:, :1], (1, 1), 0)
    assert torch.allclose(out[:, :1], alone, atol=1e-6)
    assert Convpass(16, conv_init='xavier').conv.weight.abs().sum() > 4
    with pytest.raises(ValueError, match='conv_init'):
        Convpass(16, conv_init='ones')


def test_convpass_parameter_count_formula():
    c, d = 768, 8
    adapter = Convpass(c, bottleneck=d)
    expected = (c * d + d) + (9 * d * d + d) + (d * c + c)
    assert sum(p.numel() for p in adapter.parameters()) == expected == 13648


def test_iconformer_kernels_depend_on_the_input():
    adapter = iConFormer(32, bottleneck=8, generator_hidden=8).eval()
    randomize(adapter, 0.5)
    x = torch.randn(2, 16, 32)
    kernels = adapter.dynamic_kernels(x, (4, 4))
    assert kernels.shape == (2, 8, 3, 3)
    assert (kernels[0] - kernels[1]).abs().max() > 1e-3


@pytest.mark.parametrize('pool', ['avg', 'max', 'avgmax', 'grid'])
@pytest.mark.parametrize('static_path', [True, False])
def test_iconformer_batch_equals_one_sample_at_a_time(pool, static_path):
    adapter = iConFormer(32, bottleneck=8, generator_hidden=8, pool=pool,
                         kernel_size=5, static_path=static_path).eval()
    randomize(adapter, 0.3)
    x = torch.randn(3, 1 + 6 * 4, 32)
    batched = adapter(x, (6, 4), 1)
    single = torch.cat([adapter(x[i:i + 1], (6, 4), 1) for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_iconformer_dynamic_conv_matches_a_reference_loop():
    """The grouped convolution is a per-sample, per-channel convolution."""
    adapter = iConFormer(16, bottleneck=4, generator_hidden=4,
                         static_path=False, act='relu').eval()
    randomize(adapter, 0.3)
    x = torch.randn(2, 5 * 3, 16)
    kernels = adapter.dynamic_kernels(x, (5, 3))
    hidden = adapter.down(x).transpose(1, 2).reshape(2, 4, 5, 3)
    expected = torch.zeros_like(hidden)
    for b in range(2):
        for c in range(4):
            expected[b, c] = torch.nn.functional.conv2d(
                hidden[b, c][None, None], kernels[b, c][None, None],
                padding=1)[0, 0]
    tokens = expected.flatten(2).transpose(1, 2)
    reference = adapter.up(torch.relu(tokens)) * adapter.scale
    assert torch.allclose(adapter(x, (5, 3)), reference, atol=1e-5)


def test_iconformer_option_errors():
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        iConFormer(16, kernel_size=4)
    with pytest.raises(ValueError, match='pool'):
        iConFormer(16, pool='median')
    with pytest.raises(ValueError, match='activation'):
        iConFormer(16, act='tanhh')


def test_houlsby_parameter_count_formula():
    c, d = 768, 64
    adapter = HoulsbyAdapter(c, bottleneck=d)
    assert sum(p.numel() for p in adapter.parameters()) == 2 * c * d + d + c
    assert isinstance(HoulsbyAdapter(8, act='relu').act, torch.nn.ReLU)


def mona_reference(adapter, x, hw_shape, num_prefix_tokens):
    """Mona as the authors' code computes it: three depthwise convolutions,
    their mean plus a skip, a 1x1 projector plus a skip; prefix tokens as
    1x1 maps, each on its own."""
    op = adapter.conv

    def multi_scale(grid):
        grid = grid + sum(conv(grid) for conv in op.convs) / 3.0
        return grid + op.projector(grid)

    u = adapter.norm(x) * adapter.gamma + x * adapter.gamma_x
    prefix, grid = split_tokens(adapter.down(u), hw_shape, num_prefix_tokens)
    batch, tokens, channels = prefix.shape
    prefix = multi_scale(prefix.reshape(-1, channels, 1, 1)).reshape(
        batch, tokens, channels)
    z = merge_tokens(prefix, multi_scale(grid))
    return adapter.up(F.gelu(z)) * adapter.scale


@pytest.mark.parametrize('hw,prefix', [((4, 4), 0), ((3, 5), 1), ((1, 2), 1),
                                       ((9, 7), 0)])
def test_mona_folded_convolutions_match_the_authors_form(hw, prefix):
    adapter = randomize(Mona(24, bottleneck=8)).eval()
    x = torch.randn(2, prefix + hw[0] * hw[1], 24)
    expected = mona_reference(adapter, x, hw, prefix)
    assert torch.allclose(adapter(x, hw, prefix), expected, atol=1e-5)


def test_mona_init_and_parameter_count_formula():
    c, d = 768, 64
    adapter = Mona(c, bottleneck=d)
    assert torch.all(adapter.gamma == 1e-6) and torch.all(adapter.gamma_x == 1)
    assert sum(p.numel() for p in adapter.parameters()) == \
        2 * c * d + 5 * c + d * d + 88 * d
    # The authors' init leaves Up non-zero: no identity start.
    assert Mona(c, zero_init=False).up.weight.abs().sum() > 0


def test_lora_init_delta_and_dropout():
    lora = LoRA(16, rank=4, alpha=2.0)
    assert torch.count_nonzero(lora.lora_B) == 0
    bound = 1 / math.sqrt(16)  # kaiming_uniform(a=sqrt(5)) on 16 inputs
    assert 0 < lora.lora_A.abs().max() <= bound
    assert lora.scaling == 0.5
    randomize(lora)
    x = torch.randn(3, 5, 16)
    assert torch.allclose(lora(x), x @ lora.delta_weight().t(), atol=1e-6)
    assert sum(p.numel() for p in lora.parameters()) == 2 * 4 * 16
    dropping = LoRA(16, rank=4, dropout=0.5).train()
    randomize(dropping)
    assert not torch.allclose(dropping(x), x @ dropping.delta_weight().t())


def test_vpt_prompts_go_after_the_prefix_and_come_out_again():
    vpt = VPTDeep(8, num_tokens=3, patch_size=4)
    bound = math.sqrt(6.0 / (3 * 4 * 4 + 8))
    assert vpt.prompts.abs().max() <= bound
    x = torch.randn(2, 1 + 6, 8)
    inserted = vpt.insert(x, 1)
    assert inserted.shape == (2, 1 + 3 + 6, 8)
    assert torch.equal(inserted[:, 0], x[:, 0])
    assert torch.equal(inserted[1, 1:4], vpt.prompts)
    assert torch.equal(inserted[:, 4:], x[:, 1:])
    assert torch.equal(vpt.remove(inserted, 1), x)
    assert torch.equal(vpt.remove(vpt.insert(x, 0), 0), x)
