"""Pretrained converters: timm ViT and official (and timm) Swin state dicts
converted to the mmseg, mmdet and mmpretrain backbones reproduce timm's
features; the CLIs write files that load weights-only into our wrappers with
only adapter keys missing."""
import importlib.util
import os.path as osp
import re

import pytest
import timm
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import ConfigDict
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.registry import MODELS as SEG_MODELS

import mmpeft  # noqa: F401 (registers the wrappers)
from mmpeft.models.converters import (official_swin_to, timm_swin_to_official,
                                      timm_vit_to, timm_vit_to_mmpretrain,
                                      timm_vit_to_mmseg)
from mmpeft.models.injection import adapter_param_names

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOL = 1e-4


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny models: intra-op threads only add contention on a shared CPU
    (a tiny Swin forward goes from ~10 ms to ~1 s with 2 busy threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------
# helpers


def load_tool(name):
    path = osp.join(ROOT, 'tools', 'model_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def randomise_norms(model, std=0.3):
    """timm initialises LayerNorms to (1, 0); make them count."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'norm' in name or 'relative_position_bias_table' in name:
                param.normal_(1.0 if name.endswith('weight') else 0.0, std)


def record(modules, prefix, store):
    for i, module in enumerate(modules):
        module.register_forward_hook(
            lambda m, a, out, key=f'{prefix}{i}': store.__setitem__(key, out))


def max_diff(a, b):
    return (a - b).abs().max().item()


# --------------------------------------------------------------------------
# ViT

VIT_DIMS = dict(depth=2, embed_dim=64, num_heads=2, img_size=32, patch_size=8)


def timm_vit(**kwargs):
    model = timm.create_model(
        'vit_base_patch16_224', pretrained=False, **VIT_DIMS, **kwargs)
    randomise_norms(model)
    with torch.no_grad():
        model.patch_embed.proj.bias.normal_(0, 0.5)
        model.pos_embed.normal_(0, 0.5)
        model.cls_token.normal_(0, 0.5)
    return model.eval()


def mmseg_vit(**kwargs):
    model = SEG_MODELS.build(
        dict(type='VisionTransformer', _scope_='mmseg', img_size=(32, 32),
             patch_size=8, embed_dims=64, num_layers=2, num_heads=2,
             mlp_ratio=4, norm_cfg=dict(type='LN', eps=1e-6),
             out_indices=(0, 1), **kwargs))
    model.eval()
    return model


def mmpretrain_vit(**kwargs):
    model = CLS_MODELS.build(
        dict(type='VisionTransformer', _scope_='mmpretrain',
             arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                       feedforward_channels=256),
             img_size=32, patch_size=8, out_indices=(0, 1), **kwargs))
    model.eval()
    return model


def compare_vit_blocks(reference, converted, x):
    """Max difference of the token features after every block."""
    feats = {}
    record(reference.blocks, 't', feats)
    record(converted.layers, 'm', feats)
    with torch.no_grad():
        reference.forward_features(x)
        outputs = converted(x)
    diffs = [max_diff(feats[f't{i}'], feats[f'm{i}'])
             for i in range(len(reference.blocks))]
    return diffs, outputs


@pytest.mark.parametrize('patch_bias', ['fold', 'keep'])
def test_timm_vit_to_mmseg_reproduces_timm(patch_bias):
    reference = timm_vit()
    converted = timm_vit_to_mmseg(reference.state_dict(), patch_bias)
    # mmseg's ViT (and its configs) default to patch_bias=False.
    model = mmseg_vit(final_norm=True, patch_bias=patch_bias == 'keep')
    result = model.load_state_dict(converted, strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 3, 32, 32)
    diffs, outputs = compare_vit_blocks(reference, model, x)
    # The last block's hook sees the tokens before mmseg's final norm (ln1).
    assert max(diffs) < TOL, diffs
    with torch.no_grad():
        tokens = reference.forward_features(x)[:, 1:]
    final = outputs[-1].flatten(2).transpose(1, 2)
    assert max_diff(tokens, final) < TOL


def test_folded_patch_bias_survives_pos_embed_resizing(tmp_path):
    """mmseg resizes pos_embed (bicubic) when loading at another size; the
    folded bias stays exact because interpolation preserves constants."""
    reference = timm_vit()
    outputs = []
    for patch_bias in ('fold', 'keep'):
        path = tmp_path / f'{patch_bias}.pth'
        torch.save(timm_vit_to_mmseg(reference.state_dict(), patch_bias),
                   path)
        model = SEG_MODELS.build(
            dict(type='VisionTransformer', _scope_='mmseg', img_size=(48, 64),
                 patch_size=8, embed_dims=64, num_layers=2, num_heads=2,
                 norm_cfg=dict(type='LN', eps=1e-6), final_norm=True,
                 patch_bias=patch_bias == 'keep',
                 init_cfg=dict(type='Pretrained', checkpoint=str(path))))
        model.init_weights()
        assert model.pos_embed.shape[1] == 1 + 6 * 8  # resized from 4 x 4
        model.eval()
        with torch.no_grad():
            outputs.append(model(torch.randn(2, 3, 48, 64,
                                             generator=torch.Generator()
                                             .manual_seed(0))))
    assert max_diff(outputs[0][-1], outputs[1][-1]) < TOL


@pytest.mark.parametrize('variant', ['plain', 'gap_fc_norm', 'no_embed_class'])
def test_timm_vit_to_mmpretrain_reproduces_timm(variant):
    if variant == 'plain':  # original / augreg / MAE-pretrain: final norm
        reference = timm_vit()
        options = dict(out_type='raw')
    elif variant == 'gap_fc_norm':  # MAE fine-tuned: fc_norm, no final norm
        reference = timm_vit(global_pool='avg', fc_norm=True, init_values=0.5)
        options = dict(out_type='avg_featmap', final_norm=False,
                       layer_scale_init_value=0.1)
    else:  # pos_embed without a class-token slot
        reference = timm_vit(no_embed_class=True)
        options = dict(out_type='raw')
    converted = timm_vit_to_mmpretrain(reference.state_dict())
    model = mmpretrain_vit(**options)
    result = model.load_state_dict(converted, strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(2, 3, 32, 32)
    diffs, outputs = compare_vit_blocks(reference, model, x)
    with torch.no_grad():
        features = reference.forward_features(x)
        pooled = reference.forward_head(features, pre_logits=True)
    assert max(diffs) < TOL, diffs  # the layer hooks see pre-final-norm
    if variant == 'gap_fc_norm':  # ln2 on the mean of the patch tokens
        assert max_diff(pooled, outputs[-1]) < TOL
    else:  # ln1 (timm's norm) on all tokens
        assert max_diff(features, outputs[-1]) < TOL


def test_vit_release_extras_are_dropped():
    """IN-21K heads, the old pre-logits layer and MAE's decoder go; the
    backbone keys are the same as without them."""
    reference = timm_vit().state_dict()
    extended = dict(reference)
    extended.update({
        'head.weight': torch.zeros(21843, 64),
        'head.bias': torch.zeros(21843),
        'pre_logits.fc.weight': torch.zeros(64, 64),
        'pre_logits.fc.bias': torch.zeros(64),
        'mask_token': torch.zeros(1, 1, 64),
        'decoder_embed.weight': torch.zeros(32, 64),
        'decoder_pos_embed': torch.zeros(1, 17, 32),
        'decoder_blocks.0.norm1.weight': torch.zeros(32),
        'decoder_norm.weight': torch.zeros(32),
        'decoder_pred.weight': torch.zeros(192, 32),
    })
    for target in ('mmseg', 'mmpretrain'):
        report = {}
        plain = timm_vit_to(target, reference)
        converted = timm_vit_to(target, {'model': extended}, report=report)
        assert list(converted) == list(plain)
        assert len(report['dropped']) == 10
    with pytest.raises(ValueError, match='does not understand'):
        timm_vit_to_mmseg(timm_vit(init_values=0.1).state_dict())  # no LS
    with pytest.raises(ValueError, match='mmdet'):
        timm_vit_to('mmdet', reference)


# --------------------------------------------------------------------------
# Swin

# Window 2 on a 128x128 input: stage grids 32/16/8/4, each at least two
# windows wide. (Where a grid equals the window, the official code and
# mmpretrain's pad_small_map=False skip the shift, mmseg/mmdet do not.)
SWIN_TIMM = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                 window_size=2, img_size=128)
SWIN_MM = dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
               window_size=2)


def timm_swin():
    model = timm.create_model(
        'swin_tiny_patch4_window7_224', pretrained=False, **SWIN_TIMM)
    randomise_norms(model)
    return model.eval()


def mm_swin(target, wrapper=False, **overrides):
    prefix = 'PEFT' if wrapper else ''
    if target == 'mmpretrain':
        cfg = dict(arch=dict(embed_dims=16, depths=[2, 2, 2, 2],
                             num_heads=[1, 2, 2, 4]),
                   img_size=128, window_size=2, out_indices=(0, 1, 2, 3))
        registry = CLS_MODELS
    else:
        cfg = dict(SWIN_MM, pretrain_img_size=128)
        registry = SEG_MODELS if target == 'mmseg' else DET_MODELS
    cfg.update(overrides)
    model = registry.build(
        dict(type=prefix + 'SwinTransformer', _scope_=target, **cfg))
    model.eval()
    return model


def official_keys(depths=(2, 2, 2, 2), heads_shifted=True):
    """The key list of a Microsoft Swin release file (Swin-T layout), as
    written in the official repository's model."""
    keys = ['patch_embed.proj.weight', 'patch_embed.proj.bias',
            'patch_embed.norm.weight', 'patch_embed.norm.bias']
    for i, depth in enumerate(depths):
        for j in range(depth):
            block = f'layers.{i}.blocks.{j}.'
            keys += [block + k for k in (
                'norm1.weight', 'norm1.bias',
                'attn.relative_position_bias_table',
                'attn.relative_position_index', 'attn.qkv.weight',
                'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
                'norm2.weight', 'norm2.bias', 'mlp.fc1.weight',
                'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias')]
            if j % 2 and heads_shifted:
                keys.append(block + 'attn_mask')
        if i < len(depths) - 1:
            keys += [f'layers.{i}.downsample.{k}' for k in (
                'reduction.weight', 'norm.weight', 'norm.bias')]
    return keys + ['norm.weight', 'norm.bias', 'head.weight', 'head.bias']


def release_file_from_timm(reference):
    """A state dict in the official release layout, buffers included."""
    state_dict = timm_swin_to_official(reference.state_dict())
    for i, stage in enumerate(reference.layers):
        for j, block in enumerate(stage.blocks):
            prefix = f'layers.{i}.blocks.{j}.'
            state_dict[prefix + 'attn.relative_position_index'] = \
                block.attn.relative_position_index.clone()
            if j % 2:
                state_dict[prefix + 'attn_mask'] = block.attn_mask.clone()
    return state_dict


def test_timm_swin_remap_gives_the_official_layout():
    release = release_file_from_timm(timm_swin())
    assert sorted(release) == sorted(official_keys())


@pytest.mark.parametrize('target', ['mmseg', 'mmdet', 'mmpretrain'])
def test_official_swin_reproduces_timm(target):
    reference = timm_swin()
    release = release_file_from_timm(reference)
    report = {}
    converted = official_swin_to(target, {'model': release}, report=report)
    assert report['source_layout'] == 'official'
    assert sorted(report['dropped']) == sorted(
        [k for k in release if k.endswith('attn_mask')] +
        ['head.weight', 'head.bias'])
    if target == 'mmdet':  # mmdet's Swin reads only backbone.* keys
        assert all(k.startswith('backbone.') for k in converted)
        converted = {k[len('backbone.'):]: v for k, v in converted.items()}
    # timm's own layout (no buffers saved) converts to the same tensors:
    # the relative_position_index buffers are recomputed.
    from_timm = official_swin_to(target, reference.state_dict())
    from_timm = {re.sub(r'^backbone\.', '', k): v
                 for k, v in from_timm.items()}
    assert sorted(from_timm) == sorted(converted)
    assert all(torch.equal(from_timm[k], converted[k]) for k in converted)

    model = mm_swin(target)
    result = model.load_state_dict(converted, strict=False)
    assert not result.unexpected_keys
    # Only the output norms of stages 0-2 are new (no counterpart in the
    # release); the release's final norm became norm3.
    assert sorted(result.missing_keys) == sorted(
        f'norm{i}.{p}' for i in range(3) for p in ('weight', 'bias'))

    feats = {}
    record([stage.blocks[-1] for stage in reference.layers], 't', feats)
    record([stage.blocks[-1] for stage in model.stages], 'm', feats)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        final = reference.forward_features(x)  # final norm, (B, H, W, C)
        outputs = model(x)
    diffs = [max_diff(feats[f't{i}'].flatten(1, 2), feats[f'm{i}'])
             for i in range(4)]
    assert max(diffs) < TOL, diffs
    assert max_diff(final.permute(0, 3, 1, 2), outputs[3]) < TOL


def test_swin_final_norm_can_be_dropped_and_v2_is_refused():
    release = release_file_from_timm(timm_swin())
    converted = official_swin_to('mmseg', release, final_norm=False)
    assert not any(k.startswith('norm') for k in converted)
    release['layers.0.blocks.0.attn.logit_scale'] = torch.zeros(1, 1, 1)
    with pytest.raises(ValueError, match='V2'):
        official_swin_to('mmseg', release)


# --------------------------------------------------------------------------
# CLIs and our wrappers

ADAPTER = dict(type='iConFormer', bottleneck=8, generator_hidden=16)


def test_cli_files_load_into_peft_wrappers(tmp_path):
    vit_src, swin_src = tmp_path / 'vit.pth', tmp_path / 'swin.pth'
    torch.save({'model': timm_vit().state_dict()}, vit_src)
    torch.save({'model': release_file_from_timm(timm_swin())}, swin_src)
    vit_tool, swin_tool = load_tool('vit2mm'), load_tool('swin2mm')
    cases = [
        (vit_tool, vit_src, 'mmseg', lambda **kw: SEG_MODELS.build(dict(
            type='PEFTVisionTransformer', _scope_='mmseg', img_size=(32, 32),
            patch_size=8, embed_dims=64, num_layers=2, num_heads=2,
            norm_cfg=dict(type='LN', eps=1e-6), final_norm=True,
            adapter=ADAPTER, **kw))),
        (vit_tool, vit_src, 'mmpretrain', lambda **kw: CLS_MODELS.build(dict(
            type='PEFTVisionTransformer', _scope_='mmpretrain',
            arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                      feedforward_channels=256),
            img_size=32, patch_size=8, adapter=ADAPTER, **kw))),
    ] + [(swin_tool, swin_src, target,
          lambda target=target, **kw: mm_swin(
              target, wrapper=True, out_indices=(3, ), adapter=ADAPTER, **kw))
         for target in ('mmseg', 'mmdet', 'mmpretrain')]
    for tool, src, target, build in cases:
        dst = tmp_path / target / f'{tool.__name__}.pth'
        tool.main([str(src), str(dst), '--target', target])
        # weights-only, as mmengine's loader does on torch >= 2.6
        state_dict = torch.load(dst, map_location='cpu', weights_only=True)
        if target == 'mmdet':
            state_dict = {k[len('backbone.'):]: v
                          for k, v in state_dict.items()}
        model = build()
        result = model.load_state_dict(state_dict, strict=False)
        assert not result.unexpected_keys, (target, result.unexpected_keys)
        assert sorted(result.missing_keys) == sorted(
            adapter_param_names(model)), (target, result.missing_keys)
        # The path a config takes: init_cfg=Pretrained on the wrapper.
        # (ConfigDict, as from a config file: mmdet reads init_cfg.checkpoint)
        model = build(init_cfg=ConfigDict(type='Pretrained',
                                          checkpoint=str(dst)))
        model.init_weights()
        own = model.state_dict()
        assert all(torch.equal(own[k], v) for k, v in state_dict.items()), \
            target


# --------------------------------------------------------------------------
# DINOv2 and EVA-02 (official release layouts, timm as the reference)
#
# The official files are made from a random timm model: its keys renamed to
# the release's names, then loaded back through timm's own
# checkpoint_filter_fn (which reads the official files) with strict=True,
# so that the renaming is checked by timm, not by us.

def randomise_all(model, std=0.3):
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.normal_(1.0 if 'norm' in name and name.endswith('weight')
                          else 0.0, std)
    return model


def as_official(state_dict, renames):
    out = {}
    for key, value in state_dict.items():
        for old, new in renames:
            key = key.replace(old, new)
        out[key] = value.clone()
    return out


def loads_back_into_timm(official, timm_model):
    from timm.models import eva, vision_transformer
    module = eva if isinstance(timm_model, eva.Eva) else vision_transformer
    filtered = module.checkpoint_filter_fn(dict(official), timm_model)
    result = timm_model.load_state_dict(filtered, strict=False)
    # timm keeps non-persistent-like RoPE tables and a zero k bias as
    # buffers; nothing trainable may be missing.
    trainable = {n for n, _ in timm_model.named_parameters()}
    assert not (set(result.missing_keys) & trainable), result.missing_keys
    assert not result.unexpected_keys, result.unexpected_keys


DINOV2_TIMM = dict(img_size=28, embed_dim=64, depth=2, num_heads=2)


@pytest.mark.parametrize('giant', [False, True], ids=['vit', 'swiglu'])
def test_official_dinov2_reproduces_timm(giant):
    from mmpeft.models.converters import official_dinov2_to_mmpretrain
    variant = ('vit_giant_patch14_dinov2' if giant else
               'vit_small_patch14_dinov2')
    options = dict(mlp_ratio=4.0) if giant else {}
    reference = randomise_all(timm.create_model(
        variant, pretrained=False, **DINOV2_TIMM, **options)).eval()
    renames = [('mlp.fc1.', 'mlp.w12.'), ('mlp.fc2.', 'mlp.w3.')] \
        if giant else []
    official = as_official(reference.state_dict(), renames)
    official['mask_token'] = torch.zeros(1, 64)
    loads_back_into_timm(official, reference)
    converted = official_dinov2_to_mmpretrain(official)
    layer_cfgs = dict(ffn_type='swiglu_fused') if giant else {}
    model = CLS_MODELS.build(dict(
        type='VisionTransformer', _scope_='mmpretrain',
        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=192 if giant else 256),
        img_size=28, patch_size=14, layer_scale_init_value=1e-5,
        out_type='raw', out_indices=(0, 1), layer_cfgs=layer_cfgs))
    model.eval()  # mmpretrain's ViT returns None from train()
    result = model.load_state_dict(converted, strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    diffs, outputs = compare_vit_blocks(reference, model,
                                        torch.randn(2, 3, 28, 28))
    assert max(diffs) < TOL, diffs


def test_dinov2_register_release_is_refused():
    from mmpeft.models.converters import official_dinov2_to_mmpretrain
    with pytest.raises(ValueError, match='register_tokens'):
        official_dinov2_to_mmpretrain({'register_tokens': torch.zeros(1, 4, 8),
                                       'cls_token': torch.zeros(1, 1, 8)})


# timm's EVA module names -> the EVA-02 release's (baaivision/EVA).
EVA02_RENAMES = [('mlp.fc1_g.', 'mlp.w1.'), ('mlp.fc1_x.', 'mlp.w2.'),
                 ('mlp.fc2.', 'mlp.w3.'), ('mlp.norm.', 'mlp.ffn_ln.'),
                 ('attn.q_proj.bias', 'attn.q_bias'),
                 ('attn.v_proj.bias', 'attn.v_bias')]


def official_rope_tables(rope, grid):
    """EVA-02's (and timm's) RoPE tables for a ``grid`` pre-training grid:
    frequencies interleaved per rotated pair, positions 0 .. grid - 1."""
    half = rope.half_dim
    freq = 1. / (rope.theta**(torch.arange(0, half, 2).float() / half))
    steps = (torch.arange(grid).float()[:, None] * freq).repeat_interleave(
        2, -1)
    position = torch.cat((steps[:, None].expand(grid, grid, half),
                          steps[None].expand(grid, grid, half)), -1)
    position = position.reshape(grid * grid, -1)
    return position.cos(), position.sin()


def eva02_pair():
    """A random timm EVA-02-L-layout model (4 x 4 grid), its official
    state dict, and the mmpretrain ViTEVA02 holding the converted one."""
    from mmpeft.models.converters import official_eva02_to_mmpretrain
    reference = randomise_all(timm.create_model(
        'eva02_large_patch14_224', pretrained=False, img_size=56,
        embed_dim=64, depth=2, num_heads=2, ref_feat_shape=(4, 4))).eval()
    official = {k: v for k, v in as_official(
        reference.state_dict(), EVA02_RENAMES).items()
        if 'rope' not in k and 'k_bias' not in k}
    loads_back_into_timm(official, reference)
    model = CLS_MODELS.build(dict(
        type='ViTEVA02', _scope_='mmpretrain',
        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=int(64 * 4 * 2 / 3)),
        img_size=56, patch_size=14, sub_ln=True,
        norm_cfg=dict(type='LN', eps=1e-6), out_type='avg_featmap',
        final_norm=False, out_indices=(0, 1)))
    model.eval()
    result = model.load_state_dict(official_eva02_to_mmpretrain(official),
                                   strict=False)
    assert not result.unexpected_keys
    assert all('rope' in k for k in result.missing_keys), result.missing_keys
    return reference, model


def test_official_eva02_reproduces_timm():
    """EVA-02-L's layout (separate q/k/v, SwiGLU with sub-LN, fc_norm of
    a fine-tuned file) on a tiny model. mmpretrain 1.2.0's RoPE tables
    differ from EVA-02's (see the next test), so the comparison puts the
    official tables into this one instance."""
    reference, model = eva02_pair()
    model.rope.freqs_cos, model.rope.freqs_sin = official_rope_tables(
        model.rope, 4)
    diffs, outputs = compare_vit_blocks(reference, model,
                                        torch.randn(2, 3, 56, 56))
    assert max(diffs) < TOL, diffs
    with torch.no_grad():  # timm's fine-tuned layout: fc_norm on the mean
        x = torch.randn(1, 3, 56, 56)
        pooled = reference.forward_head(reference.forward_features(x),
                                        pre_logits=True)
        assert max_diff(pooled, model(x)[-1]) < TOL


def test_mmpretrain_eva02_rope_differs_from_the_official_one():
    """Upstream behaviour, recorded: mmpretrain 1.2.0's RotaryEmbeddingFast
    repeats its frequencies block-wise (``.repeat(1, 2)``) where EVA-02
    interleaves them per rotated pair, and spreads the grid over head_dim /
    2 positions instead of the pre-training grid. Converted official
    weights therefore do not give EVA-02's features in ViTEVA02 (nor do
    those of mmpretrain's own eva02_to_mmpretrain.py, which maps the same
    keys). When this test fails, upstream has changed: drop the note in
    configs/*/README.md and docs/backbones.md."""
    reference, model = eva02_pair()
    diffs, _ = compare_vit_blocks(reference, model, torch.randn(2, 3, 56, 56))
    assert diffs[0] > 1e-2
    official = official_rope_tables(model.rope, 4)
    assert not torch.allclose(model.rope.freqs_cos, official[0])


@pytest.mark.parametrize('tool', ['dinov2_to_mm', 'eva02_to_mm'])
def test_dinov2_and_eva02_clis_load_into_peft_wrappers(tool, tmp_path):
    if tool == 'dinov2_to_mm':
        reference = timm.create_model('vit_small_patch14_dinov2',
                                      pretrained=False, **DINOV2_TIMM)
        official = dict(reference.state_dict(), mask_token=torch.zeros(1, 64))
        backbone = dict(type='PEFTVisionTransformer', img_size=28,
                        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                                  feedforward_channels=256),
                        layer_scale_init_value=1e-5)
    else:
        reference, _ = eva02_pair()
        official = {k: v for k, v in as_official(
            reference.state_dict(), EVA02_RENAMES).items()
            if 'rope' not in k and 'k_bias' not in k}
        backbone = dict(type='PEFTViTEVA02', img_size=56, sub_ln=True,
                        arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                                  feedforward_channels=170),
                        out_type='avg_featmap', final_norm=False)
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'model': official}, src)
    load_tool(tool).main([str(src), str(dst)])
    peft = CLS_MODELS.build(dict(
        backbone, _scope_='mmpretrain', patch_size=14,
        adapter=dict(type='AdaptFormer', bottleneck=8),
        init_cfg=ConfigDict(type='Pretrained', checkpoint=str(dst))))
    result = peft.load_state_dict(torch.load(dst, weights_only=True),
                                  strict=False)
    assert not result.unexpected_keys
    missing = {k for k in result.missing_keys if 'rope' not in k}
    assert missing == set(adapter_param_names(peft))
