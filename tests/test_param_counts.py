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
