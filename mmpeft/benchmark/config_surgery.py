"""One model config, and one model, per benchmark method.

Every method is built from the same config: its backbone options apply to
all of them, while the wrapper's options (adapter, tuning, adapter_blocks,
...) are stripped and set per method.
"""
import copy
import inspect

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict


def base_model_cfg(cfg: Config, shape) -> dict:
    """The config's model, with a top-level data_preprocessor moved in (as
    the Runner does) and its padding size set to the measured shape."""
    model = copy.deepcopy(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict')
                          else dict(cfg.model))
    if 'data_preprocessor' not in model and cfg.get('data_preprocessor'):
        model['data_preprocessor'] = copy.deepcopy(
            dict(cfg.data_preprocessor))
    preprocessor = model.get('data_preprocessor') or {}
    if preprocessor.get('size') is not None:
        preprocessor['size'] = tuple(shape)
    return model


def method_backbone(backbone: dict, method: dict, scope: str,
                    adapter_options=None) -> dict:
    """The backbone config of ``method``: the wrapper of the config's
    backbone type (scope prefix kept: 'mmpretrain.VisionTransformer' ->
    'mmpretrain.PEFTVisionTransformer') with the method's options."""
    from mmpeft.models.backbones import WRAPPER_OPTIONS, wrapper_type_of
    backbone = dict(backbone)
    for key in WRAPPER_OPTIONS:  # each method sets its own
        backbone.pop(key, None)
    backbone['type'] = wrapper_type_of(backbone['type'], scope)
    if method['kind'] == 'full':
        backbone['tuning'] = 'full'
    elif method['kind'] in ('floor', 'head'):
        backbone['tuning'] = 'frozen'
    else:
        backbone['tuning'] = 'peft'
        backbone['adapter'] = dict(
            type=method['adapter'],
            **applicable_options(method['adapter'], adapter_options or {}))
        backbone['adapter_blocks'] = method['adapter_blocks']
    for key in ('frozen_dtype', 'with_cp'):
        if key in method:
            backbone[key] = method[key]
    return backbone


def method_model_cfg(cfg: Config, method: dict, shape,
                     adapter_options=None) -> ConfigDict:
    model = base_model_cfg(cfg, shape)
    model['backbone'] = method_backbone(
        model['backbone'], method, cfg.get('default_scope'), adapter_options)
    # A ConfigDict, as the Runner builds from: mmdet's detectors read
    # train_cfg.rpn as an attribute.
    return ConfigDict(model)


def applicable_options(adapter_type: str, options: dict) -> dict:
    """The --adapter-options an adapter's __init__ accepts."""
    from mmpeft.adapters import ADAPTERS
    accepted = inspect.signature(ADAPTERS.get(adapter_type)).parameters
    return {k: v for k, v in options.items() if k in accepted}


class FloorShift:
    """Adds a zero-initialised trainable (C,) vector to the patch-embedding
    output: the frozen backbone then has to be back-propagated through."""

    def __init__(self, backbone: nn.Module):
        embed = backbone.patch_embed
        convs = [m for m in embed.modules() if isinstance(m, nn.Conv2d)]
        param = nn.Parameter(torch.zeros(convs[0].out_channels))
        backbone.register_parameter('benchmark_floor_shift', param)
        self.param = param
        embed.register_forward_hook(self.hook)

    def hook(self, module, args, output):
        if isinstance(output, tuple):
            return (output[0] + self.param, ) + tuple(output[1:])
        return output + self.param


def build_model(cfg: Config, method: dict, shape, device: str,
                adapter_options=None) -> nn.Module:
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(
        method_model_cfg(cfg, method, shape, adapter_options))
    model = revert_sync_batchnorm(model)  # no process group here
    if method['kind'] == 'floor':
        FloorShift(model.backbone)
    return model.to(device)
