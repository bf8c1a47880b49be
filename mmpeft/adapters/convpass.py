r"""Convpass (Jie and Deng, 2022), as in the authors' code (PETL-ViT).

    C(x) = s * Up(Dropout(QuickGELU(Conv3x3(QuickGELU(Down(x))))))

Down: C -> d (xavier_uniform, zero bias); Conv3x3: d -> d over the token grid
(zeros with the identity on the centre tap, or xavier_uniform), zero bias;
Up: d -> C (weight and bias zero), so C(x) = 0 at init. Prefix tokens (a ViT
class token) are convolved as 1x1 maps, which only the centre tap touches.

Parallel to both sub-blocks, reading the LayerNorm outputs and sharing the
branch's drop-path (independent draws):

    x <- x + DropPath(Attn(LN1 x)) + DropPath(Ca(LN1 x))
    x <- x + DropPath(MLP(LN2 x))  + DropPath(Cm(LN2 x))

In Swin, Ca reads the full (unwindowed, unpadded) token map. The variant
with Ca only is ``position='attn_parallel'``.
Parameters per adapter: (C*d + d) + (9*d*d + d) + (d*C + C).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ADAPTERS, merge_tokens, split_tokens
from .bottleneck import BottleneckAdapter


@ADAPTERS.register_module()
class Convpass(BottleneckAdapter):
    """Convolutional bypass: the bottleneck with act-conv-act between Down
    and Dropout (xavier Down).

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Hidden width d. Defaults to 8.
        scale (float): Output scale s. Defaults to 0.1.
        learnable_scale (bool): Learn s (starting from ``scale``).
        dropout (float): Dropout before Up. Defaults to 0.1.
        conv_init (str): 'identity' or 'xavier'. Defaults to 'identity'.
    """
    default_position = ('attn_parallel', 'mlp_parallel')
    parallel_reads = 'normed'
    parallel_drop_path = True
    CONV_INITS = ('identity', 'xavier')

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int = 8,
                 scale: float = 0.1,
                 learnable_scale: bool = False,
                 dropout: float = 0.1,
                 conv_init: str = 'identity'):
        if conv_init not in self.CONV_INITS:
            raise ValueError(f'Convpass: conv_init={conv_init!r}; choose one '
                             f'of {self.CONV_INITS}')
        super().__init__(embed_dims, bottleneck, act='quick_gelu',
                         dropout=dropout, scale=scale,
                         learnable_scale=learnable_scale, down_init='xavier')
        self.conv_init = conv_init
        self.conv = nn.Conv2d(bottleneck, bottleneck, 3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.conv_init == 'identity':
            nn.init.zeros_(self.conv.weight)
            with torch.no_grad():
                self.conv.weight[:, :, 1, 1] += torch.eye(
                    self.conv.out_channels)
        else:
            nn.init.xavier_uniform_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def mix(self, hidden, hw_shape, num_prefix_tokens):
        prefix, grid = split_tokens(self.act(hidden), hw_shape,
                                    num_prefix_tokens)
        grid = self.conv(grid)
        # A 1x1 map under a padded 3x3 conv only meets the centre tap.
        prefix = F.linear(prefix, self.conv.weight[:, :, 1, 1],
                          self.conv.bias)
        return self.act(merge_tokens(prefix, grid))
