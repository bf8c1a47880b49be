"""Tiny configurations of every supported backbone, for fast CPU tests.

Each entry gives the registry to build from, the wrapper's and the plain
upstream type, and small architecture options. Swin uses window 3 so that
grids are padded; ViTs keep their class token.
"""
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.registry import MODELS as SEG_MODELS

import mmpeft  # noqa: F401 (registers the wrappers)
from mmpeft.models.injection import adapter_param_names

SWIN_SEG = dict(
    pretrain_img_size=64, embed_dims=16, depths=(2, 2, 2, 2),
    num_heads=(1, 2, 2, 4), window_size=3, drop_path_rate=0.0)

BACKBONES = {
    'mmseg-swin': (SEG_MODELS, 'SwinTransformer', dict(SWIN_SEG)),
    'mmdet-swin': (DET_MODELS, 'SwinTransformer', dict(SWIN_SEG)),
    'mmpretrain-swin': (CLS_MODELS, 'SwinTransformer', dict(
        arch=dict(embed_dims=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4]),
        img_size=64, window_size=3, out_indices=(0, 1, 2, 3),
        pad_small_map=True, drop_path_rate=0.0)),
    'mmseg-vit': (SEG_MODELS, 'VisionTransformer', dict(
        img_size=(32, 32), patch_size=8, embed_dims=32, num_layers=4,
        num_heads=2, mlp_ratio=2, out_indices=(1, 3))),
    'mmpretrain-vit': (CLS_MODELS, 'VisionTransformer', dict(
        arch=dict(embed_dims=32, num_layers=4, num_heads=2,
                  feedforward_channels=64),
        img_size=32, patch_size=8, out_indices=(1, 3), out_type='featmap')),
}

ADAPTER_CFGS = {
    'AdaptFormer': dict(type='AdaptFormer', bottleneck=8),
    'AdaptFormer-seq': dict(
        type='AdaptFormer', bottleneck=8, position='sequential'),
    'Convpass': dict(type='Convpass', bottleneck=4),
    'iConFormer': dict(type='iConFormer', bottleneck=8, generator_hidden=16),
    'iConFormer-par': dict(
        type='iConFormer', bottleneck=8, generator_hidden=16,
        position='parallel', pool='grid'),
    'HoulsbyAdapter': dict(type='HoulsbyAdapter', bottleneck=8),
    'Mona': dict(type='Mona', bottleneck=8),
    'LoRA': dict(type='LoRA', rank=4, alpha=8),
    'LoRA-qkv-proj': dict(type='LoRA', rank=2, targets=('q', 'k', 'v',
                                                         'proj')),
}
# (backbone, adapter) pairs refused at construction, with the reason.
UNSUPPORTED = {
    ('mmseg-vit', 'LoRA'): 'nn.MultiheadAttention',
    ('mmseg-vit', 'LoRA-qkv-proj'): 'nn.MultiheadAttention',
}


def supported(backbone, adapter):
    return (backbone, adapter) not in UNSUPPORTED


# `_scope_` pins the registry: mmengine otherwise builds from the scope of
# whatever Runner ran last in the process.


def build_plain(name, **overrides):
    registry, upstream_type, arch = BACKBONES[name]
    return registry.build(
        dict(type=upstream_type, _scope_=registry.scope, **arch, **overrides))


def build_peft(name, **overrides):
    registry, upstream_type, arch = BACKBONES[name]
    return registry.build(
        dict(type='PEFT' + upstream_type, _scope_=registry.scope, **arch,
             **overrides))


def as_list(outputs):
    """Flatten backbone outputs (tuples, lists, nested cls-token lists)."""
    flat = []
    for out in outputs:
        flat.extend(as_list(out) if isinstance(out, (list, tuple)) else [out])
    return flat


def input_for(backbone, non_square=False):
    if 'swin' in backbone:
        shape = (96, 160) if non_square else (64, 64)
    else:
        shape = (32, 48) if non_square else (32, 32)
    return torch.randn(2, 3, *shape)


def randomize_adapters(model, std=0.1):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in adapter_param_names(model):
                param.normal_(0, std)


def max_diff(a, b):
    return max((x - y).abs().max().item()
               for x, y in zip(as_list(a), as_list(b)))
