"""One frozen backbone serving several tasks, each with its own adapters.

    tasks = SharedBackboneTasks()
    tasks.add('ade', 'configs/...ade20k.py', 'ade_adapters.pth')
    tasks.add('cityscapes', 'configs/...cityscapes.py',
              'city_adapters.safetensors')   # .pth or .safetensors
    model = tasks.use('ade')          # ADE20K head, ADE20K adapters
    model = tasks.use('cityscapes')   # same backbone object, other adapters

The backbone is built and its base weights are loaded once (by the first
task); every later task must use the same architecture, adapter layout and
base weights. Switching copies the task's adapter tensors (megabytes) into
the shared backbone in place; nothing is rebuilt.
"""
from typing import Dict

import torch
import torch.nn as nn

from ..checkpoint import load_peft_checkpoint
from ..checkpoint.state import BACKBONE_PREFIX, trained_backbone_keys
from ..checkpoint.state import load_checkpoint_file
from .inference import build_from_config


class SharedBackboneTasks:

    def __init__(self):
        self.backbone = None
        self._models: Dict[str, nn.Module] = {}
        self._adapters: Dict[str, Dict[str, torch.Tensor]] = {}
        self.active = None

    def add(self, name: str, config, checkpoint: str) -> None:
        if name in self._models:
            raise KeyError(f'task {name!r} is already added')
        model = build_from_config(config)
        self._share_backbone(name, model)
        state = load_checkpoint_file(checkpoint)
        load_peft_checkpoint(model, state, source=checkpoint)
        state = state.get('state_dict', state)
        trained = set(trained_backbone_keys(model))
        self._adapters[name] = {
            key[len(BACKBONE_PREFIX):]: state[key].clone()
            for key in trained
        }
        heads = {k: v for k, v in state.items()
                 if not k.startswith(BACKBONE_PREFIX)}
        result = model.load_state_dict(heads, strict=False)
        if result.unexpected_keys:
            raise KeyError(f'{checkpoint}: unexpected keys for task '
                           f'{name!r}: {result.unexpected_keys}')
        self._models[name] = model.eval()

    def _share_backbone(self, name: str, model: nn.Module) -> None:
        if self.backbone is None:
            model.backbone.init_weights()  # the one load of the base
            self.backbone = model.backbone
            return
        mine = {k: v.shape for k, v in self.backbone.state_dict().items()}
        theirs = {k: v.shape for k, v in model.backbone.state_dict().items()}
        if mine != theirs:
            differ = sorted(set(mine.items()) ^ set(theirs.items()))[:6]
            raise ValueError(f'task {name!r} has a different backbone or '
                             f'adapter layout than the shared one: {differ}')
        # The task's checkpoint is checked against the shared base weights
        # when it loads (load_peft_checkpoint).
        model.backbone = self.backbone

    @torch.no_grad()
    def use(self, name: str) -> nn.Module:
        """Put task ``name``'s adapters into the shared backbone; return
        that task's model."""
        if name not in self._models:
            raise KeyError(f'unknown task {name!r}; added: '
                           f'{sorted(self._models)}')
        if self.active != name:
            tensors = dict(self.backbone.named_parameters())
            tensors.update(self.backbone.named_buffers())
            for key, value in self._adapters[name].items():
                tensors[key].copy_(value)
            self.active = name
        return self._models[name]
