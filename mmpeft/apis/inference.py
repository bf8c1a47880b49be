"""Build a model from a config and load a (possibly adapter-only)
checkpoint onto its base weights."""
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope

from ..checkpoint import load_peft_checkpoint
from ..checkpoint.state import load_checkpoint_file
from ..models.backbones import check_adapter_hosts


def as_config(config: Union[str, Config, dict]) -> Config:
    if isinstance(config, str):
        return Config.fromfile(config)
    return config if isinstance(config, Config) else Config(config)


def build_from_config(config: Union[str, Config, dict]) -> nn.Module:
    """The config's model, built in the config's scope (no weights)."""
    cfg = as_config(config)
    scope = cfg.get('default_scope', 'mmengine')
    check_adapter_hosts(cfg.model, scope)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    return revert_sync_batchnorm(model)


def init_peft_model(config: Union[str, Config, dict],
                    checkpoint: Optional[str] = None) -> nn.Module:
    """Build, load the base backbone weights from ``init_cfg``, then the
    checkpoint (full or adapter-only, .pth or .safetensors, checked against
    the model)."""
    model = build_from_config(config)
    model.backbone.init_weights()
    if checkpoint is not None:
        state = load_checkpoint_file(checkpoint)
        load_peft_checkpoint(model, state, source=checkpoint)
        model.load_state_dict(state.get('state_dict', state), strict=True)
    return model.eval()
