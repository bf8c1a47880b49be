"""The backbone table: every registered wrapper is in the test matrix, the
type mapping upstream <-> wrapper, positions per family (existing or refused
with the reason), layer scale and block-level drop-path."""
import copy
import re

import pytest
import torch
from tiny_models import (ADAPTER_CFGS, BACKBONES, build_peft, build_plain,
                         input_for, max_diff, randomize_adapters)

from mmpeft.adapters import ADAPTERS
from mmpeft.models.backbones import (spec_of, upstream_type_of,
                                     wrapper_table, wrapper_type_of)
from mmpeft.models.injection import POSITION_KINDS, POSITIONS


def test_every_registered_wrapper_has_a_tiny_model():
    """A new table entry without a tiny model would escape the matrix."""
    covered = {(registry.scope, upstream)
               for registry, upstream, _ in BACKBONES.values()}
    for scope, pairs in wrapper_table().items():
        for upstream, wrapper in pairs.items():
            assert (scope, upstream) in covered, (
                f'{scope}.{wrapper}: add a tiny {upstream} to '
                f'tests/tiny_models.py BACKBONES')


@pytest.mark.parametrize('given,scope,wrapper', [
    ('SwinTransformer', None, 'PEFTSwinTransformer'),
    ('SwinTransformer', 'mmdet', 'PEFTSwinTransformer'),
    ('PEFTSwinTransformer', 'mmseg', 'PEFTSwinTransformer'),
    ('mmpretrain.VisionTransformer', 'mmdet',
     'mmpretrain.PEFTVisionTransformer'),
    ('mmpretrain.PEFTVisionTransformer', None,
     'mmpretrain.PEFTVisionTransformer'),
    ('ViTEVA02', 'mmpretrain', 'PEFTViTEVA02'),
    ('mmpretrain.ViTEVA02', None, 'mmpretrain.PEFTViTEVA02'),
])
def test_wrapper_and_upstream_types_map_both_ways(given, scope, wrapper):
    assert wrapper_type_of(given, scope) == wrapper
    upstream = upstream_type_of(wrapper, scope)
    assert 'PEFT' not in upstream
    assert wrapper_type_of(upstream, scope) == wrapper


@pytest.mark.parametrize('given,scope,message', [
    ('ResNet', 'mmseg', r"'ResNet' is neither a wrapped upstream type nor a "
     r'wrapper; wrappers: PEFTSwinTransformer \(scopes mmseg, mmdet, '
     r'mmpretrain\)'),
    ('VisionTransformer', 'mmdet', r"'VisionTransformer' is neither"),
    ('mmocr.SwinTransformer', None, r"scope 'mmocr' has no mmpeft wrappers"),
])
def test_unknown_types_are_errors_listing_the_wrappers(given, scope,
                                                       message):
    with pytest.raises(ValueError, match=message):
        wrapper_type_of(given, scope)


def test_error_lists_every_wrapper_from_the_registries():
    with pytest.raises(ValueError) as info:
        wrapper_type_of('ResNet')
    for pairs in wrapper_table().values():
        for wrapper in pairs.values():
            assert wrapper in str(info.value)


def layer_scales(model):
    """The layer-scale modules the table names (an upstream nn.Identity
    where the scale is off has no weight)."""
    spec = spec_of(model)
    return [block.get_submodule(sub.layer_scale)
            for _, block in spec.blocks(model)
            for sub in (spec.block.attn, spec.block.mlp)
            if sub.layer_scale and hasattr(
                block.get_submodule(sub.layer_scale), 'weight')]


def _set_layer_scales(model, value):
    for scale in layer_scales(model):
        scale.weight.data.fill_(value)


def _position_cases():
    """(backbone, adapter, position) for every position of every adapter
    kind: token adapters reading the residual (AdaptFormer) and the normed
    input (Convpass), Linear adapters (LoRA)."""
    by_kind = {'sub_block': ['AdaptFormer', 'Convpass'], 'linear': ['LoRA']}
    for backbone in BACKBONES:
        for position in POSITIONS:
            for name in by_kind.get(POSITION_KINDS[position], []):
                yield backbone, name, position


@pytest.mark.parametrize('backbone,adapter,position', list(_position_cases()))
def test_each_position_works_or_is_refused_with_the_tables_reason(
        backbone, adapter, position):
    cfg = dict(ADAPTER_CFGS[adapter])
    cfg[ADAPTERS.get(cfg['type']).position_key] = position
    plain = build_plain(backbone)
    reason = spec_of(plain).block.why_not(position)
    if reason is not None:
        with pytest.raises(ValueError, match=re.escape(reason)):
            build_peft(backbone, adapter=cfg)
        return
    peft = build_peft(backbone, adapter=cfg)
    peft.load_state_dict(plain.state_dict(), strict=False)
    plain.eval(), peft.eval()
    x = input_for(backbone)
    with torch.no_grad():
        assert max_diff(peft(x), plain(x)) <= 1e-6
        randomize_adapters(peft)
        assert max_diff(peft(x), plain(x)) > 1e-4


def test_vpt_is_refused_on_eva02_for_its_rope():
    with pytest.raises(ValueError, match='RoPE'):
        build_peft('mmpretrain-eva02', adapter=dict(type='VPTDeep'))


LAYER_SCALED = [b for b in BACKBONES if layer_scales(build_plain(b))]


@pytest.mark.parametrize('backbone', LAYER_SCALED)
@pytest.mark.parametrize('adapter', ['AdaptFormer', 'HoulsbyAdapter',
                                     'Mona', 'Convpass'])
def test_adapters_are_not_multiplied_by_the_layer_scale(backbone, adapter):
    """With every layer scale at 0 the blocks pass their input through; an
    adapter multiplied by the layer scale would vanish with them."""
    plain = build_plain(backbone)
    peft = build_peft(backbone, adapter=copy.deepcopy(ADAPTER_CFGS[adapter]))
    peft.load_state_dict(plain.state_dict(), strict=False)
    randomize_adapters(peft)
    _set_layer_scales(plain, 0.0), _set_layer_scales(peft, 0.0)
    plain.eval(), peft.eval()
    x = input_for(backbone)
    with torch.no_grad():
        before = plain(x)
        attn = spec_of(plain).block.attn
        qkv = f"{attn.module}.{attn.linears['q'].path}"
        for _, block in spec_of(plain).blocks(plain):
            block.get_submodule(qkv).weight.data.normal_()
        assert max_diff(plain(x), before) == 0  # the scales gate the branch
        assert max_diff(peft(x), before) > 1e-4


BLOCK_DROP_PATH = [b for b in BACKBONES
                   if not spec_of(build_plain(b)).block.mlp.drop_path_inside]


def _adapted(stream, branch, normed, adapter, mode, hw):
    """One sub-block by the formulas of injection.py: ``branch`` is what
    the block adds to ``stream`` (after its drop-path)."""
    if mode == 'sequential':
        return stream + branch + adapter(branch, hw, 1)
    if mode == 'post':
        out = stream + branch
        return out + adapter(out, hw, 1)
    source = stream if adapter.parallel_reads == 'residual' else normed
    delta = adapter(source, hw, 1)
    if adapter.parallel_drop_path:
        delta = HALF * delta  # through the same (stand-in) drop-path
    return stream + branch + delta


HALF = 0.5


@pytest.mark.parametrize('backbone', BLOCK_DROP_PATH)
@pytest.mark.parametrize('sub', ['attn', 'mlp'])
@pytest.mark.parametrize('adapter,mode', [
    ('HoulsbyAdapter', 'sequential'), ('Mona', 'post'),
    ('AdaptFormer', 'parallel'), ('Convpass', 'parallel')])
def test_adapters_see_the_branch_after_a_block_level_drop_path(
        backbone, sub, adapter, mode):
    """EVA-02's block applies one drop_path to both branches. A stand-in
    drop-path that halves its input makes the order visible: an adapter
    that read the branch before it, or whose delta went through it, would
    not match the formulas."""
    cfg = dict(ADAPTER_CFGS[adapter], dropout=0.0)
    cfg[ADAPTERS.get(cfg['type']).position_key] = f'{sub}_{mode}'
    plain = build_plain(backbone)
    peft = build_peft(backbone, adapter=cfg)
    peft.load_state_dict(plain.state_dict(), strict=False)
    randomize_adapters(peft)
    plain.eval(), peft.eval()
    block, ref = peft.layers[0], plain.layers[0]
    block.get_submodule(spec_of(peft).block.mlp.drop_path) \
        .register_forward_hook(lambda m, args, out: HALF * out, prepend=True)
    adapter_module = block.adapters[f'{sub}_{mode}']
    hw = (4, 4)
    x = torch.randn(2, 1 + hw[0] * hw[1], 32)
    with torch.no_grad():
        peft(torch.randn(1, 3, 32, 32))  # records the 4x4 grid
        normed = ref.norm1(x)
        branch = HALF * ref.attn(normed, hw)
        y = (_adapted(x, branch, normed, adapter_module, mode, hw)
             if sub == 'attn' else x + branch)
        normed = ref.norm2(y)
        branch = HALF * ref.mlp(normed)
        expected = (_adapted(y, branch, normed, adapter_module, mode, hw)
                    if sub == 'mlp' else y + branch)
        assert torch.allclose(block(x, hw), expected, atol=1e-6)
