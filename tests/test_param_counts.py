"""Adapter parameter counts on the real architectures (built without
weights)."""
import pytest
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.registry import MODELS as SEG_MODELS

import mmpeft  # noqa: F401

SWIN_B = dict(
    type='PEFTSwinTransformer', pretrain_img_size=384, embed_dims=128,
    depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12)
SEG_VIT_B = dict(type='PEFTVisionTransformer', img_size=(224, 224))
CLS_VIT_B = dict(type='PEFTVisionTransformer', arch='b', img_size=224,
                 patch_size=16)
CLS_SWIN_B = dict(type='PEFTSwinTransformer', arch='base', img_size=384,
                  window_size=12)

VIT_B = [(SEG_MODELS, SEG_VIT_B), (CLS_MODELS, CLS_VIT_B)]
SWIN_B_ALL = [(SEG_MODELS, SWIN_B), (CLS_MODELS, CLS_SWIN_B)]


def report(registry, cfg, adapter):
    return registry.build(dict(cfg, adapter=adapter,
                               _scope_=registry.scope)).peft_report()


@pytest.mark.parametrize('registry,cfg', VIT_B)
def test_adaptformer_on_vit_b(registry, cfg):
    r = report(registry, cfg, dict(type='AdaptFormer', bottleneck=64))
    assert r['adapter_params'] == 1_189_632


@pytest.mark.parametrize('registry,cfg', VIT_B)
def test_convpass_on_vit_b(registry, cfg):
    r = report(registry, cfg, dict(type='Convpass', bottleneck=8))
    assert r['adapter_params'] == 327_552
    assert 0.37 < r['adapter_percent'] < 0.39


@pytest.mark.parametrize('registry,cfg', VIT_B + SWIN_B_ALL)
def test_iconformer_defaults_in_the_papers_range(registry, cfg):
    r = report(registry, cfg, dict(type='iConFormer'))
    assert 1.6 <= r['adapter_percent'] <= 2.8, r
    assert r['adapter_trainable'] == r['adapter_params']
    assert r['backbone_other_trainable'] == 0


# Swin-B: C = 128 * 2**stage, depths 2/2/18/2; ViT-B: C = 768, 12 blocks.
SWIN_B_BLOCK_DIMS = [128] * 2 + [256] * 2 + [512] * 18 + [1024] * 2
VIT_B_BLOCK_DIMS = [768] * 12


def block_dims(cfg):
    return SWIN_B_BLOCK_DIMS if 'Swin' in cfg['type'] else VIT_B_BLOCK_DIMS


@pytest.mark.parametrize('registry,cfg', VIT_B + SWIN_B_ALL)
def test_houlsby_adapter_two_per_block(registry, cfg):
    d = 64
    r = report(registry, cfg, dict(type='HoulsbyAdapter', bottleneck=d))
    assert r['adapter_params'] == sum(
        2 * (2 * c * d + d + c) for c in block_dims(cfg))
    if 'Swin' in cfg['type']:
        # V-PETL Bench's Adapter row on Swin-B: 3.11M.
        assert r['adapter_params'] == 3_107_328


@pytest.mark.parametrize('registry,cfg', VIT_B + SWIN_B_ALL)
def test_mona_two_per_block(registry, cfg):
    d = 64
    r = report(registry, cfg, dict(type='Mona'))
    assert r['adapter_params'] == sum(
        2 * (2 * c * d + 5 * c + d * d + 88 * d) for c in block_dims(cfg))


@pytest.mark.parametrize('registry,cfg', [(CLS_MODELS, CLS_VIT_B)] +
                         SWIN_B_ALL)
@pytest.mark.parametrize('targets', [('q', 'v'), ('q', 'k', 'v', 'proj')])
def test_lora_per_target(registry, cfg, targets):
    rank = 8
    r = report(registry, cfg, dict(type='LoRA', rank=rank, targets=targets))
    assert r['adapter_params'] == sum(
        len(targets) * 2 * rank * c for c in block_dims(cfg))
    if targets == ('q', 'v') and 'Swin' in cfg['type']:
        assert r['adapter_params'] == 385_024


@pytest.mark.parametrize('registry,cfg', VIT_B)
def test_vpt_deep_on_vit_b(registry, cfg):
    r = report(registry, cfg, dict(type='VPTDeep', num_tokens=50))
    assert r['adapter_params'] == 12 * 50 * 768 == 460_800


def swin_b_tuned(**options):
    model = SEG_MODELS.build(dict(SWIN_B, _scope_='mmseg', **options))
    return model.peft_report()['backbone_other_trainable']


def test_bitfit_on_swin_b():
    """Biases: per block qkv 3C, proj C, fc1 4C, fc2 C and two LayerNorms
    2C; the patch embedding's projection and norm (2 * 128); the patch
    mergings' norms (4C of stages 0-2); mmseg's four output norms."""
    stage_dims = [128, 256, 512, 1024]
    expected = (sum(11 * c for c in SWIN_B_BLOCK_DIMS) + 2 * 128 +
                sum(4 * c for c in stage_dims[:3]) + sum(stage_dims))
    assert swin_b_tuned(tuning='bitfit') == expected == 138_112


def test_ln_tune_on_swin_b():
    """Norm weights and biases: two LayerNorms per block (4C), the patch
    embedding's (2 * 128), the patch mergings' (2 * 4C), the output norms
    (2C); V-PETL Bench's LN-tune row on Swin-B: 0.06M."""
    stage_dims = [128, 256, 512, 1024]
    expected = (sum(4 * c for c in SWIN_B_BLOCK_DIMS) + 2 * 128 +
                sum(8 * c for c in stage_dims[:3]) +
                sum(2 * c for c in stage_dims))
    assert swin_b_tuned(tuning='norm') == expected == 59_392


def test_partial_1_on_swin_b():
    """The last block (C = 1024, 32 heads, window 12): qkv and proj
    (4C^2 + 4C), MLP (8C^2 + 5C), two LayerNorms (4C) and the relative
    position bias table ((2 * 12 - 1)^2 * 32)."""
    c = 1024
    expected = 12 * c * c + 13 * c + (2 * 12 - 1)**2 * 32
    assert swin_b_tuned(tuning='partial', partial_blocks=1) == expected
