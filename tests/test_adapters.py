"""The adapter modules on their own: init, shapes, grids, each bottleneck
method against its formula, iCoN (generators, FilterNorm), Mona's folded
convolutions, LoRA's delta and VPT's prompts."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from mmpeft.adapters import (ADAPTERS, AdaptFormer, Convpass, HoulsbyAdapter,
                             LoRA, Mona, VPTDeep, iConFormer)
from mmpeft.adapters.base import QuickGELU, merge_tokens, split_tokens
from mmpeft.adapters.iconformer import FilterNorm

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


@pytest.mark.parametrize('layernorm', ['none', 'in', 'out'])
def test_adaptformer_matches_its_formula(layernorm):
    adapter = randomize(AdaptFormer(16, bottleneck=4, scale=0.3,
                                    layernorm=layernorm)).eval()
    x = torch.randn(2, 9, 16)
    inp = adapter.norm(x) if layernorm == 'in' else x
    expected = 0.3 * adapter.up(torch.relu(adapter.down(inp)))
    if layernorm == 'out':
        expected = adapter.norm(expected)
    assert torch.allclose(adapter(x, (3, 3)), expected, atol=1e-6)


def test_houlsby_matches_its_formula_and_drops_out_in_training():
    adapter = randomize(HoulsbyAdapter(16, bottleneck=4, scale=0.5,
                                       dropout=0.5))
    x = torch.randn(2, 9, 16)
    expected = 0.5 * adapter.up(F.gelu(adapter.down(x)))
    assert torch.allclose(adapter.eval()(x, (3, 3)), expected, atol=1e-6)
    assert not torch.allclose(adapter.train()(x, (3, 3)), expected)


def convpass_reference(adapter, x, hw_shape, num_prefix_tokens):
    """Convpass as the authors' code computes it: the whole padded 3x3
    convolution on the patch grid, and on the class token as a 1x1 map."""
    act = QuickGELU()
    hidden = act(adapter.down(x))
    prefix, grid = split_tokens(hidden, hw_shape, num_prefix_tokens)
    conv = adapter.conv
    grid = F.conv2d(grid, conv.weight, conv.bias, padding=1)
    batch, count, channels = prefix.shape
    if count:
        prefix = F.conv2d(prefix.reshape(batch * count, channels, 1, 1),
                          conv.weight, conv.bias, padding=1).reshape(
                              batch, count, channels)
    hidden = act(merge_tokens(prefix, grid))
    return adapter.up(hidden) * adapter.scale


@pytest.mark.parametrize('hw,prefix', [((4, 4), 0), ((3, 5), 1)])
def test_convpass_matches_its_formula(hw, prefix):
    adapter = randomize(Convpass(16, bottleneck=4)).eval()
    x = torch.randn(2, prefix + hw[0] * hw[1], 16)
    expected = convpass_reference(adapter, x, hw, prefix)
    assert torch.allclose(adapter(x, hw, prefix), expected, atol=1e-5)


def test_bottleneck_option_errors():
    with pytest.raises(ValueError, match='bottleneck must be an int'):
        AdaptFormer(16, bottleneck=0)
    with pytest.raises(ValueError, match='HoulsbyAdapter: bottleneck'):
        HoulsbyAdapter(16, bottleneck=2.5)


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


def icon_reference_kernels(adapter, x_hat_grid):
    """iCoN from its equations: pool the (B, d, H, W) map, generate, and
    FilterNorm each kernel over its taps with the per-channel std / mean."""
    icon = adapter.icon
    z = x_hat_grid.mean(dim=(2, 3))
    if icon.generator == 'mlp':
        kernels = icon.fc2(torch.relu(icon.fc1(z)))
    else:
        kernels = icon.fc(z)
    kernels = kernels.view(z.shape[0], icon.channels, 3, 3)
    if icon.filter_norm is not None:
        norm = icon.filter_norm
        taps = kernels.flatten(2)
        taps = (taps - taps.mean(-1, keepdim=True)) / (
            taps.std(-1, keepdim=True) + norm.EPS)
        kernels = (taps * norm.std[:, None] + norm.mean[:, None]).view_as(
            kernels)
    return kernels


@pytest.mark.parametrize('generator,kernel_norm,static_path,prefix,act',
                         [('mlp', None, False, 0, 'relu'),
                          ('mlp', None, True, 1, 'relu'),
                          ('conv1x1', None, False, 1, 'relu'),
                          ('conv1x1', 'filter', False, 0, 'identity'),
                          ('mlp', 'filter', True, 1, 'relu')])
def test_iconformer_matches_its_equations_by_a_reference_loop(
        generator, kernel_norm, static_path, prefix, act):
    """The grouped convolution is a per-sample, per-channel convolution of
    the kernels iCoN's equations give; the class token a 1x1 map."""
    adapter = iConFormer(16, bottleneck=4, generator_hidden=4,
                         generator=generator, kernel_norm=kernel_norm,
                         static_path=static_path, act=act).eval()
    randomize(adapter, 0.3)
    x = torch.randn(2, prefix + 5 * 3, 16)
    x_hat = adapter.down(x)
    cls_token, grid = split_tokens(x_hat, (5, 3), prefix)
    kernels = icon_reference_kernels(adapter, grid)
    assert torch.allclose(adapter.dynamic_kernels(x, (5, 3), prefix),
                          kernels, atol=1e-5)
    y_grid, y_cls = torch.zeros_like(grid), torch.zeros_like(cls_token)
    for b in range(2):
        for c in range(4):
            kernel = kernels[b, c][None, None]
            y_grid[b, c] = F.conv2d(grid[b, c][None, None], kernel,
                                    padding=1)[0, 0]
            for p in range(prefix):
                y_cls[b, p, c] = F.conv2d(cls_token[b, p, c].view(1, 1, 1, 1),
                                          kernel, padding=1).squeeze()
    y = merge_tokens(y_cls, y_grid)
    if static_path:
        y = y + x_hat
    activated = torch.relu(y) if act == 'relu' else y
    reference = adapter.up(activated) * adapter.scale
    assert torch.allclose(adapter(x, (5, 3), prefix), reference, atol=1e-5)


OPTION_COMBOS = list(itertools.product(['mlp', 'conv1x1'], [None, 'filter'],
                                       [True, False],
                                       ['avg', 'max', 'avgmax', 'grid']))


@pytest.mark.parametrize('generator,kernel_norm,static_path,pool',
                         OPTION_COMBOS)
def test_iconformer_is_exactly_zero_at_init_for_every_option(
        generator, kernel_norm, static_path, pool):
    adapter = ADAPTERS.build(
        dict(type='iConFormer', embed_dims=16, bottleneck=4,
             generator=generator, kernel_norm=kernel_norm,
             static_path=static_path, pool=pool))
    x = torch.randn(3, 1 + 4 * 5, 16)
    out = adapter.eval()(x, (4, 5), 1)
    assert out.shape == x.shape and torch.count_nonzero(out) == 0
    # ... and not because iCoN is dead: its kernels differ between inputs.
    kernels = adapter.dynamic_kernels(x, (4, 5), 1)
    assert (kernels[0] - kernels[1]).abs().max() > 1e-4


def test_filter_norm_gives_each_channel_its_mean_and_std():
    norm = FilterNorm(5, 3)
    assert torch.allclose(norm.std, torch.full((5, ), math.sqrt(2) / 3))
    assert torch.count_nonzero(norm.mean) == 0
    with torch.no_grad():
        norm.std.copy_(torch.tensor([0.5, 1.0, 2.0, 0.1, 3.0]))
        norm.mean.copy_(torch.tensor([0.0, -1.0, 0.25, 4.0, 1.5]))
    raw = torch.randn(4, 5, 3, 3) * 7 + 3
    out = norm(raw)
    taps = out.flatten(2)
    assert torch.allclose(taps.mean(-1), norm.mean.expand(4, 5), atol=1e-5)
    assert torch.allclose(taps.std(-1), norm.std.expand(4, 5), atol=1e-4)
    # The shape of each kernel is kept: an affine map of the raw taps.
    corr = torch.corrcoef(torch.stack([raw[2, 3].flatten(),
                                       out[2, 3].flatten()]))[0, 1]
    assert corr > 0.9999


def test_iconformer_filter_norm_kernels_have_the_stated_mean_and_std():
    adapter = iConFormer(16, bottleneck=4, generator='conv1x1',
                         kernel_norm='filter', static_path=False)
    randomize(adapter, 0.5)
    kernels = adapter.dynamic_kernels(torch.randn(3, 12, 16), (3, 4))
    norm = adapter.icon.filter_norm
    taps = kernels.flatten(2)
    assert torch.allclose(taps.mean(-1), norm.mean.expand(3, 4), atol=1e-5)
    # A negative learned std flips the kernel; its spread is |std_c|.
    assert torch.allclose(taps.std(-1), norm.std.abs().expand(3, 4),
                          atol=1e-4)


def test_iconformer_generator_and_filter_norm_parameter_counts():
    c, d, k = 768, 64, 3
    bottleneck = (c * d + d) + (d * c + c)

    def count(**options):
        return sum(p.numel() for p in iConFormer(c, **options).parameters())

    assert count() == bottleneck + (d * 32 + 32) + (32 * d * k * k + d * k * k)
    dtf = bottleneck + (d * d * k * k + d * k * k)
    assert count(generator='conv1x1') == dtf
    assert count(generator='conv1x1', kernel_norm='filter') == dtf + 2 * d
    assert count(generator='conv1x1') - bottleneck == 37_440
    keys = iConFormer(c, generator='conv1x1', kernel_norm='filter'
                      ).state_dict()
    assert {'icon.fc.weight', 'icon.filter_norm.std',
            'icon.filter_norm.mean'} <= set(keys)


def test_iconformer_option_errors():
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        iConFormer(16, kernel_size=4)
    with pytest.raises(ValueError, match='pool'):
        iConFormer(16, pool='median')
    with pytest.raises(ValueError, match='activation'):
        iConFormer(16, act='tanhh')
    with pytest.raises(ValueError, match="generator='rnn'"):
        iConFormer(16, generator='rnn')
    with pytest.raises(ValueError, match="kernel_norm='batch'"):
        iConFormer(16, kernel_norm='batch')
    with pytest.raises(ValueError, match='kernel_size >= 3'):
        iConFormer(16, kernel_size=1, kernel_norm='filter')
    with pytest.raises(ValueError, match='generator_hidden'):
        iConFormer(16, generator_hidden=0)
    # The hidden width only concerns the two-layer generator.
    assert iConFormer(16, generator='conv1x1', generator_hidden=0)


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
