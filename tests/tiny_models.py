"""Tiny configurations of every supported backbone, for fast CPU tests.

Each entry gives the registry to build from, the plain upstream type (the
wrapper's follows from the table, ``wrapper_type_of``) and small
architecture options. Swin uses window 3 so that grids are padded; ViTs
keep their class token. tests/test_backbone_matrix.py checks that every
registered wrapper has an entry here, so the matrix of tests/test_wrappers.py
covers each new family.
"""
import inspect

import torch
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.registry import MODELS as SEG_MODELS

import mmpeft  # noqa: F401 (registers the wrappers)
from mmpeft.models.backbones import wrapper_type_of
from mmpeft.models.injection import adapter_param_names

SWIN_SEG = dict(
    pretrain_img_size=64, embed_dims=16, depths=(2, 2, 2, 2),
    num_heads=(1, 2, 2, 4), window_size=3, drop_path_rate=0.0)

TINY_VIT_ARCH = dict(arch=dict(embed_dims=32, num_layers=4, num_heads=2,
                               feedforward_channels=64))

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
    # DINOv2 is mmpretrain's ViT with layer scale and patch 14 (the grid of
    # a 32x32 input is padded to 3x3); the giant arch's SwiGLU FFN. The
    # release's scales are near 1e-5 at init; 0.5 keeps the deltas of
    # adapters inside the branch (LoRA) measurable.
    'mmpretrain-dinov2': (CLS_MODELS, 'VisionTransformer', dict(
        TINY_VIT_ARCH, img_size=28, patch_size=14, out_indices=(1, 3),
        out_type='featmap', layer_scale_init_value=0.5)),
    'mmpretrain-dinov2-swiglu': (CLS_MODELS, 'VisionTransformer', dict(
        TINY_VIT_ARCH, img_size=28, patch_size=14, out_indices=(1, 3),
        out_type='featmap', layer_scale_init_value=0.5,
        layer_cfgs=dict(ffn_type='swiglu_fused'))),
    # EVA-02: RoPE, SwiGLU with its sub-LN, one drop-path per block.
    'mmpretrain-eva02': (CLS_MODELS, 'ViTEVA02', dict(
        TINY_VIT_ARCH, img_size=32, patch_size=8, sub_ln=True,
        out_indices=(1, 3), out_type='featmap')),
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
# Backbones whose upstream class takes with_cp (activation checkpointing).
WITH_CP = [name for name, (registry, upstream, _) in BACKBONES.items()
           if 'with_cp' in inspect.signature(
               registry.get(upstream).__init__).parameters]
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
        dict(type=wrapper_type_of(upstream_type, registry.scope),
             _scope_=registry.scope, **arch, **overrides))


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
