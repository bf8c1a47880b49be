r"""AdaptFormer (Chen et al., NeurIPS 2022), as in the authors' code.

    A(x) = s * Up(Dropout(ReLU(Down(x))))        Down: C -> d, Up: d -> C

Parallel to the MLP (default), reading the stream that enters the MLP
sub-block, before its LayerNorm; the adapter branch gets no drop-path:

    x <- x + DropPath(MLP(LN2(x))) + A(x)

Sequential, on the MLP branch output with its own skip:

    m = DropPath(MLP(LN2(x)));   x <- x + (m + A(m))

Init ("lora"): Down weight kaiming_uniform(a=sqrt(5)), all biases and the Up
weight zero, so A(x) = 0 at step 0. An optional LayerNorm on the adapter
input ('in') or output ('out') exists in the authors' code; their runs use
none. Parameters per adapter: 2*C*d + d + C.
"""
import torch.nn as nn

from .base import ADAPTERS
from .bottleneck import BottleneckAdapter


@ADAPTERS.register_module()
class AdaptFormer(BottleneckAdapter):
    """Bottleneck adapter (ReLU, kaiming Down).

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Hidden width d. Defaults to 64.
        scale (float): Output scale s. Defaults to 0.1.
        learnable_scale (bool): Learn s (starting from ``scale``).
        dropout (float): Dropout after the activation. Defaults to 0.1.
        layernorm (str): 'none', 'in' or 'out'. Defaults to 'none'.
    """
    default_position = 'mlp_parallel'
    parallel_reads = 'residual'
    parallel_drop_path = False
    LAYERNORM_OPTIONS = ('none', 'in', 'out')

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int = 64,
                 scale: float = 0.1,
                 learnable_scale: bool = False,
                 dropout: float = 0.1,
                 layernorm: str = 'none'):
        if layernorm not in self.LAYERNORM_OPTIONS:
            raise ValueError(f'AdaptFormer: layernorm={layernorm!r}; choose '
                             f'one of {self.LAYERNORM_OPTIONS}')
        super().__init__(embed_dims, bottleneck, act='relu', dropout=dropout,
                         scale=scale, learnable_scale=learnable_scale)
        self.layernorm = layernorm
        self.norm = nn.LayerNorm(embed_dims) if layernorm != 'none' else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.norm is not None:
            self.norm.reset_parameters()

    def forward(self, x, hw_shape, num_prefix_tokens=0):
        if self.layernorm == 'in':
            x = self.norm(x)
        out = super().forward(x, hw_shape, num_prefix_tokens)
        if self.layernorm == 'out':
            out = self.norm(out)
        return out
