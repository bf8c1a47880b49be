"""The supported backbone families (one table entry each) and the wrappers
registered in the scope of the package they wrap.

To support another backbone family: add a :class:`BackboneSpec` entry and a
three-line registered subclass below.
"""
from mmdet.models.backbones import SwinTransformer as DetSwinTransformer
from mmengine.registry import MODELS
from mmdet.registry import MODELS as DET_MODELS
from mmpretrain.models.backbones import SwinTransformer as ClsSwinTransformer
from mmpretrain.models.backbones import \
    VisionTransformer as ClsVisionTransformer
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.models.backbones import SwinTransformer as SegSwinTransformer
from mmseg.models.backbones import VisionTransformer as SegVisionTransformer
from mmseg.registry import MODELS as SEG_MODELS

from ..injection import BlockSpec, SubBlockSpec
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
        attn=SubBlockSpec('attn', drop_path='drop', norm='norm1',
                          linears=dict(qkv='w_msa.qkv', proj='w_msa.proj')),
        mlp=SubBlockSpec('ffn', 'dropout_layer', residual_kwarg='identity',
                         norm='norm2'),
        grid_arg=1),
    blocks=swin_blocks)

# mmseg: attn(LN1 x, identity=x) and ffn(LN2 x, identity=x) both add x.
SEG_VIT = BackboneSpec(
    block=BlockSpec(
        attn=SubBlockSpec(
            'attn', 'dropout_layer', residual_kwarg='identity', norm='norm1',
            note="mmseg's ViT attention is torch's nn.MultiheadAttention, "
            'which multiplies by its fused in_proj_weight and out_proj '
            'weight directly and calls no nn.Linear that a hook could '
            'see; use mmpretrain.PEFTVisionTransformer (or '
            'PEFTSwinTransformer), whose attention has them'),
        mlp=SubBlockSpec('ffn', 'dropout_layer', residual_kwarg='identity',
                         norm='norm2'),
        takes_extra_tokens=True),
    blocks=vit_blocks,
    num_prefix_tokens=lambda model: 1 if model.with_cls_token else 0,
    patch_embed='patch_embed')

# mmpretrain: x + attn(ln1 x), then ffn(ln2 x, identity=x).
CLS_VIT = BackboneSpec(
    block=BlockSpec(
        attn=SubBlockSpec('attn', 'out_drop', norm='ln1',
                          linears=dict(qkv='qkv', proj='proj')),
        mlp=SubBlockSpec('ffn', 'dropout_layer', residual_kwarg='identity',
                         norm='ln2'),
        takes_extra_tokens=True),
    blocks=vit_blocks,
    num_prefix_tokens=lambda model: model.num_extra_tokens,
    patch_embed='patch_embed',
    freezes_from=1)

@SEG_MODELS.register_module(name='PEFTSwinTransformer')
class SegPEFTSwinTransformer(PEFTBackboneMixin, SegSwinTransformer):
    """mmseg ``SwinTransformer`` with adapters."""
    peft_spec = SWIN


@DET_MODELS.register_module(name='PEFTSwinTransformer')
class DetPEFTSwinTransformer(PEFTBackboneMixin, DetSwinTransformer):
    """mmdet ``SwinTransformer`` with adapters."""
    peft_spec = SWIN


@CLS_MODELS.register_module(name='PEFTSwinTransformer')
class ClsPEFTSwinTransformer(PEFTBackboneMixin, ClsSwinTransformer):
    """mmpretrain ``SwinTransformer`` with adapters."""
    peft_spec = SWIN


@SEG_MODELS.register_module(name='PEFTVisionTransformer')
class SegPEFTVisionTransformer(PEFTBackboneMixin, SegVisionTransformer):
    """mmseg ``VisionTransformer`` with adapters."""
    peft_spec = SEG_VIT


@CLS_MODELS.register_module(name='PEFTVisionTransformer')
class ClsPEFTVisionTransformer(PEFTBackboneMixin, ClsVisionTransformer):
    """mmpretrain ``VisionTransformer`` with adapters."""
    peft_spec = CLS_VIT


WRAPPERS = ("PEFTSwinTransformer (scopes mmseg, mmdet, mmpretrain) or "
            "PEFTVisionTransformer (mmseg, mmpretrain; in an mmdet config "
            "'mmpretrain.PEFTVisionTransformer')")


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
                f'scope; backbones that take {where}.adapter: {WRAPPERS}')
        if not (isinstance(cls, type) and issubclass(cls, PEFTBackboneMixin)):
            raise ValueError(
                f'{where}.type={name!r} takes no adapter ({where}.adapter '
                f'is set); backbones that take adapters: {WRAPPERS}')
