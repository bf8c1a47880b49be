r"""LoRA (Hu et al., ICLR 2022) on the attention projections.

For a frozen projection W (C -> C) of the attention:

    h = W x + b + (alpha / r) * B A Dropout(x)     A: C -> r, B: r -> C

On a fused qkv projection (Swin, mmpretrain's ViT) each target adds to its
third of the output: q = rows 0..C-1 of W_qkv, k = C..2C-1, v = 2C..3C-1.
Targets: 'q' and 'v' by default (the paper's choice), any of 'q', 'k',
'v', 'proj' (the output projection).

Init as in the reference code (loralib): A kaiming_uniform(a=sqrt(5)),
B zero, so the delta is exactly 0 at init. Parameters per target: 2*r*C.

Mergeable: W' = W + (alpha / r) * B A folds the delta into the weight
(:func:`merge_lora`), after which the upstream model runs it with no
overhead.
"""
import math
from collections import OrderedDict
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ADAPTERS, ADAPTERS_ATTR


@ADAPTERS.register_module()
class LoRA(nn.Module):
    """Low-rank delta on one attention projection (or one third of qkv).

    Args:
        embed_dims (int): Token channels C (input and output of the delta).
        rank (int): r. Defaults to 8.
        alpha (float): The delta is scaled by alpha / r. Defaults to 8.
        dropout (float): Dropout on the input of A. Defaults to 0.

    The config key ``targets`` names the projections (its positions).
    """
    attaches_to = 'linear'
    position_key = 'targets'
    default_position = ('q', 'v')

    def __init__(self,
                 embed_dims: int,
                 rank: int = 8,
                 alpha: float = 8.0,
                 dropout: float = 0.0):
        super().__init__()
        self.rank = rank
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, embed_dims))
        self.lora_B = nn.Parameter(torch.empty(embed_dims, rank))
        self.drop = nn.Dropout(dropout)
        # Where the delta is added (a LinearSlice), set by the injection.
        self.host = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The delta of the projection's output for its input ``x``."""
        hidden = F.linear(self.drop(x), self.lora_A)
        return F.linear(hidden, self.lora_B) * self.scaling

    def delta_weight(self) -> torch.Tensor:
        """(alpha / r) * B A, to add to the rows of the weight it adapts."""
        return (self.lora_B @ self.lora_A) * self.scaling


def merge_lora(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The state dict of ``model`` with every LoRA delta folded into the
    weight it adapts and the LoRA entries left out.

    ``model`` is unchanged. The result has the keys of the model without
    LoRA: the upstream backbone's keys (plus the neck and heads for a whole
    model), so it loads where the same config has no LoRA adapter and runs
    with no overhead.
    """
    state = model.state_dict()
    merged = []
    for name, module in model.named_modules():
        if not isinstance(module, LoRA):
            continue
        if module.host is None:
            raise ValueError(f'{name}: this LoRA module was not injected '
                             'into a backbone, there is no weight to merge '
                             'it into')
        block = name.rsplit(f'.{ADAPTERS_ATTR}.', 1)[0]
        key = f'{block}.{module.host.path}.weight'
        weight = state[key].clone()
        rows = module.host.rows(weight.shape[0])
        with torch.no_grad():
            weight[rows] += module.delta_weight().to(weight.dtype)
        state[key] = weight
        merged.append(name + '.')
    if not merged:
        raise ValueError(f'{type(model).__name__} holds no LoRA adapter to '
                         'merge')
    return OrderedDict((k, v) for k, v in state.items()
                       if not k.startswith(tuple(merged)))
