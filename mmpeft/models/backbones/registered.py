"""The supported backbone families (one table entry each) and the wrappers
registered in the scope of the package they wrap.

To support another backbone family: add a :class:`BackboneSpec` entry and a
three-line registered subclass below.
"""
from dataclasses import replace
from typing import Dict, List, Optional

import torch.nn as nn

from mmdet.models.backbones import SwinTransformer as DetSwinTransformer
from mmengine.registry import MODELS
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.models.backbones import SwinTransformer as ClsSwinTransformer
from mmpretrain.models.backbones import ViTEVA02
from mmpretrain.models.backbones import \
    VisionTransformer as ClsVisionTransformer
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.models.backbones import SwinTransformer as SegSwinTransformer
from mmseg.models.backbones import VisionTransformer as SegVisionTransformer
from mmseg.registry import MODELS as SEG_MODELS

from ..injection import BlockSpec, SubBlockSpec, fused_qkv
from .peft_backbone import BackboneSpec, PEFTBackboneMixin


def swin_blocks(model):
    return [(i, block) for i, stage in enumerate(model.stages)
            for block in stage.blocks]


def vit_blocks(model):
    return list(enumerate(model.layers))


# All three Swin implementations share one block layout: ShiftWindowMSA(x,
# hw_shape) returns the drop-pathed branch, FFN(x, identity=...) adds it.
SWIN = BackboneSpec(
    block=BlockSpec(
        attn=SubBlockSpec('attn', drop_path='attn.drop', norm='norm1',
                          linears=fused_qkv('w_msa.qkv', 'w_msa.proj')),
        mlp=SubBlockSpec('ffn', 'ffn.dropout_layer', norm='norm2',
                         residual_kwarg='identity'),
        grid_arg=1,
        refusals=dict(block_input='Swin attends within (shifted) windows '
                      'of the token grid, where extra tokens have no place; '
                      'prompts need a plain ViT')),
    blocks=swin_blocks,
    attention='shifted_window')

# mmseg: attn(LN1 x, identity=x) and ffn(LN2 x, identity=x) both add x.
SEG_VIT = BackboneSpec(
    block=BlockSpec(
        attn=SubBlockSpec(
            'attn', 'attn.dropout_layer', norm='norm1',
            residual_kwarg='identity',
            note="mmseg's ViT attention is torch's nn.MultiheadAttention, "
            'which multiplies by its fused in_proj_weight and out_proj '
            'weight directly and calls no nn.Linear that a hook could '
            'see; use mmpretrain.PEFTVisionTransformer (or '
            'PEFTSwinTransformer), whose attention has them'),
        mlp=SubBlockSpec('ffn', 'ffn.dropout_layer', norm='norm2',
                         residual_kwarg='identity'),
        takes_extra_tokens=True),
    blocks=vit_blocks,
    num_prefix_tokens=lambda model: 1 if model.with_cls_token else 0,
    patch_embed='patch_embed',
    attention='torch_mha')

# mmpretrain: x + attn(ln1 x), then ffn(ln2 x, identity=x). DINOv2 is this
# class with layer scale (attn.gamma1, ffn.gamma2; nn.Identity when
# layer_scale_init_value=0) and, for the giant arch, a SwiGLU FFN
# (layer_cfgs=dict(ffn_type='swiglu_fused')) with the same attribute names.
CLS_VIT = BackboneSpec(
    block=BlockSpec(
        attn=SubBlockSpec('attn', 'attn.out_drop', norm='ln1',
                          layer_scale='attn.gamma1',
                          linears=fused_qkv('qkv', 'proj')),
        mlp=SubBlockSpec('ffn', 'ffn.dropout_layer', norm='ln2',
                         residual_kwarg='identity',
                         layer_scale='ffn.gamma2'),
        takes_extra_tokens=True),
    blocks=vit_blocks,
    num_prefix_tokens=lambda model: model.num_extra_tokens,
    patch_embed='patch_embed',
    freezes_from=1,
    attention='fused_qkv')

# mmpretrain ViTEVA02: x + drop_path(attn(norm1 x, hw)), then
# x + drop_path(mlp(norm2 x)); one drop_path on the block serves both
# branches and the SwiGLU MLP takes no identity=.
EVA02 = BackboneSpec(
    block=BlockSpec(
        attn=SubBlockSpec('attn', 'drop_path', norm='norm1',
                          linears=fused_qkv('qkv', 'proj')),
        mlp=SubBlockSpec('mlp', 'drop_path', norm='norm2'),
        refusals=dict(block_input='EVA-02 rotates every token after the '
                      'class token by its grid position (RoPE over exactly '
                      'H x W tokens); prompt tokens have no grid position')),
    blocks=vit_blocks,
    num_prefix_tokens=lambda model: model.num_extra_tokens,
    patch_embed='patch_embed',
    freezes_from=1,
    attention='rope_qkv')

@SEG_MODELS.register_module(name='PEFTSwinTransformer')
class SegPEFTSwinTransformer(PEFTBackboneMixin, SegSwinTransformer):
    """mmseg ``SwinTransformer`` with adapters."""
    # Its init_weights strips a 'backbone.' prefix when there is one.
    peft_spec = replace(SWIN, pretrained_prefixes=('', 'backbone.'))


@DET_MODELS.register_module(name='PEFTSwinTransformer')
class DetPEFTSwinTransformer(PEFTBackboneMixin, DetSwinTransformer):
    """mmdet ``SwinTransformer`` with adapters."""
    # Its init_weights keeps only keys that start with 'backbone.', after
    # converting an official release's keys when convert_weights is set.
    peft_spec = replace(SWIN, pretrained_prefixes=('backbone.', ),
                        converts_pretrained='convert_weights')


@CLS_MODELS.register_module(name='PEFTSwinTransformer')
class ClsPEFTSwinTransformer(PEFTBackboneMixin, ClsSwinTransformer):
    """mmpretrain ``SwinTransformer`` with adapters."""
    peft_spec = SWIN


@SEG_MODELS.register_module(name='PEFTVisionTransformer')
class SegPEFTVisionTransformer(PEFTBackboneMixin, SegVisionTransformer):
    """mmseg ``VisionTransformer`` with adapters."""
    # Its init_weights loads the keys as they are.
    peft_spec = replace(SEG_VIT, pretrained_prefixes=('', ))


@CLS_MODELS.register_module(name='PEFTVisionTransformer')
class ClsPEFTVisionTransformer(PEFTBackboneMixin, ClsVisionTransformer):
    """mmpretrain ``VisionTransformer`` with adapters."""
    peft_spec = CLS_VIT


@CLS_MODELS.register_module(name='PEFTViTEVA02')
class ClsPEFTViTEVA02(PEFTBackboneMixin, ViTEVA02):
    """mmpretrain ``ViTEVA02`` (EVA-02) with adapters."""
    peft_spec = EVA02


# The registries mmpeft registers wrappers in, by scope.
SCOPES = {'mmseg': SEG_MODELS, 'mmdet': DET_MODELS, 'mmpretrain': CLS_MODELS}


def _upstream_class(wrapper: type) -> type:
    return next(base for base in wrapper.__bases__
                if not issubclass(base, PEFTBackboneMixin))


def _registered_name(registry, cls: type) -> str:
    return next(name for name, value in registry.module_dict.items()
                if value is cls)


def wrapper_table() -> Dict[str, Dict[str, str]]:
    """scope -> {upstream type: wrapper type}, read from the registries, so
    that every wrapper registered (here or by a user) is in it."""
    table = {}
    for scope, registry in SCOPES.items():
        table[scope] = {
            _registered_name(registry, _upstream_class(cls)): name
            for name, cls in registry.module_dict.items()
            if isinstance(cls, type) and issubclass(cls, PEFTBackboneMixin)
        }
    return table


def describe_wrappers() -> str:
    """The wrapper types and their scopes, for error messages."""
    scopes_of: Dict[str, List[str]] = {}
    for scope, pairs in wrapper_table().items():
        for wrapper in pairs.values():
            scopes_of.setdefault(wrapper, []).append(scope)
    listed = '; '.join(f'{wrapper} (scopes {", ".join(scopes)})'
                       for wrapper, scopes in scopes_of.items())
    return (f"{listed}; from another scope prefix the package, e.g. "
            f"'mmpretrain.PEFTVisionTransformer' in an mmdet config")


def spec_of(backbone: nn.Module) -> BackboneSpec:
    """The table entry of a wrapper instance, or of an upstream backbone
    instance whose class mmpeft wraps (for tools that read plain models)."""
    if isinstance(backbone, PEFTBackboneMixin):
        return backbone.peft_spec
    for registry in SCOPES.values():
        for cls in registry.module_dict.values():
            if (isinstance(cls, type) and issubclass(cls, PEFTBackboneMixin)
                    and _upstream_class(cls) is type(backbone)):
                return cls.peft_spec
    raise TypeError(f'{type(backbone).__name__}: not a backbone mmpeft '
                    f'wraps; wrappers: {describe_wrappers()}')


def _split_type(backbone_type: str, scope: Optional[str]):
    if not isinstance(backbone_type, str):
        raise TypeError(f'backbone type must be a registered name (str), '
                        f'got {backbone_type!r}')
    prefix, _, name = backbone_type.rpartition('.')
    where = prefix or scope
    if where is not None and where not in SCOPES:
        raise ValueError(f'backbone type {backbone_type!r}: scope {where!r} '
                         f'has no mmpeft wrappers; scopes: {list(SCOPES)}')
    return prefix, name, [where] if where else list(SCOPES)


def _map_type(backbone_type: str, scope: Optional[str], to_wrapper: bool):
    prefix, name, scopes = _split_type(backbone_type, scope)
    found = set()
    for where in scopes:
        pairs = wrapper_table()[where]
        if not to_wrapper:
            pairs = {wrapper: upstream for upstream, wrapper in pairs.items()}
        if name in pairs:
            found.add(pairs[name])
        elif name in pairs.values():  # already of the wanted kind
            found.add(name)
    if len(found) != 1:
        reason = ('is neither a wrapped upstream type nor a wrapper'
                  if not found else
                  f'maps to {sorted(found)} in different scopes; prefix '
                  f'the scope')
        raise ValueError(f'backbone type {backbone_type!r} {reason}; '
                         f'wrappers: {describe_wrappers()}')
    mapped = found.pop()
    return f'{prefix}.{mapped}' if prefix else mapped


def wrapper_type_of(backbone_type: str, scope: Optional[str] = None) -> str:
    """The mmpeft wrapper type for a backbone type, scope prefix kept.

    Accepts an upstream type ('SwinTransformer',
    'mmpretrain.VisionTransformer') or a wrapper type, which is returned as
    it is. ``scope`` (the config's default scope) narrows an unprefixed
    name to that package. A type mmpeft does not wrap is a ValueError that
    lists the wrappers.
    """
    return _map_type(backbone_type, scope, to_wrapper=True)


def upstream_type_of(backbone_type: str, scope: Optional[str] = None) -> str:
    """The upstream type a wrapper type wraps, scope prefix kept
    ('mmpretrain.PEFTVisionTransformer' -> 'mmpretrain.VisionTransformer');
    an upstream type that mmpeft wraps is returned as it is."""
    return _map_type(backbone_type, scope, to_wrapper=False)


def _configs_with_adapter(node, path):
    if isinstance(node, dict):
        if node.get('adapter') is not None:
            yield path, node
        for key, value in node.items():
            yield from _configs_with_adapter(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _configs_with_adapter(value, f'{path}[{i}]')


def check_adapter_hosts(model_cfg: dict, scope: str,
                        path: str = 'model') -> None:
    """Every config dict with an ``adapter`` must build an mmpeft wrapper in
    ``scope``: otherwise the upstream class would fail later with
    ``unexpected keyword argument 'adapter'`` (or a registry miss) that
    names neither the config key nor the types that take adapters."""
    for where, node in _configs_with_adapter(model_cfg, path):
        name = node.get('type')
        if name is None:  # built by its parent module, not by a registry
            continue
        with MODELS.switch_scope_and_registry(scope) as registry:
            cls = registry.get(name) if isinstance(name, str) else name
        if cls is None:
            raise ValueError(
                f'{where}.type={name!r} is not registered in the {scope!r} '
                f'scope; backbones that take {where}.adapter: '
                f'{describe_wrappers()}')
        if not (isinstance(cls, type) and issubclass(cls, PEFTBackboneMixin)):
            raise ValueError(
                f'{where}.type={name!r} takes no adapter ({where}.adapter '
                f'is set); backbones that take adapters: '
                f'{describe_wrappers()}')
