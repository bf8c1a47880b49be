r"""The bottleneck that AdaptFormer, the Houlsby adapter, Convpass and
iConFormer share.

    A(x) = s * Up(Dropout(mix(Down(x))))        Down: C -> d, Up: d -> C

``mix`` is what a method puts between the two projections: the activation
alone (AdaptFormer, Houlsby), act-conv-act on the token grid (Convpass),
the input-conditioned depthwise convolution then the activation
(iConFormer). Down is kaiming_uniform(a=sqrt(5)) or xavier_uniform with a
zero bias; Up's weight and bias are zero, so A(x) = 0 at init whatever
``mix`` is. The scale is folded into Up's weight and bias (s * Up(h) ==
Up_s(h)), which multiplies C*(d+1) numbers instead of N*C.

The projections are attributes ``down`` / ``up`` of the adapter itself, not
of a sub-module, so the state-dict keys stay ``...down.weight``,
``...up.bias``.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Adapter, build_activation


def kaiming_init(weight: torch.Tensor) -> None:
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))


DOWN_INITS = {'kaiming': kaiming_init, 'xavier': nn.init.xavier_uniform_}


class BottleneckAdapter(Adapter):
    """Down, ``mix`` (the activation unless a subclass says otherwise),
    dropout, scaled Up.

    Subclasses build their own parts, then call ``self.reset_parameters()``
    at the end of their ``__init__`` (extending it for those parts).

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Hidden width d.
        act (str): The activation (see ``base.ACTIVATIONS``).
        dropout (float): Dropout before Up.
        scale (float): Output scale s.
        learnable_scale (bool): Learn s (starting from ``scale``).
        down_init (str): 'kaiming' (a=sqrt(5)) or 'xavier'.
    """

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int,
                 act: str,
                 dropout: float,
                 scale: float,
                 learnable_scale: bool,
                 down_init: str = 'kaiming'):
        super().__init__(embed_dims, scale, learnable_scale)
        name = type(self).__name__
        if not isinstance(bottleneck, int) or bottleneck < 1:
            raise ValueError(f'{name}: bottleneck must be an int >= 1, got '
                             f'{bottleneck!r}')
        if down_init not in DOWN_INITS:
            raise ValueError(f'{name}: down_init={down_init!r}; choose one '
                             f'of {sorted(DOWN_INITS)}')
        self.down_init = down_init
        self.down = nn.Linear(embed_dims, bottleneck)
        self.act = build_activation(act)
        self.drop = nn.Dropout(dropout)
        self.up = nn.Linear(bottleneck, embed_dims)

    def reset_parameters(self) -> None:
        DOWN_INITS[self.down_init](self.down.weight)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def mix(self, hidden, hw_shape, num_prefix_tokens):
        """What lies between Down and Dropout; (B, N, d) -> (B, N, d)."""
        return self.act(hidden)

    def scaled_up(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.linear(hidden, self.up.weight * self.scale,
                        self.up.bias * self.scale)

    def forward(self, x, hw_shape, num_prefix_tokens=0):
        hidden = self.mix(self.down(x), hw_shape, num_prefix_tokens)
        return self.scaled_up(self.drop(hidden))
