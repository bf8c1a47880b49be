r"""Mona (Yin et al., CVPR 2025): a multi-cognitive visual adapter with
multi-scale depthwise convolutions, as in the authors' code
(Leiyi-Hu/mona).

    u  = gamma * LN(x) + gamma_x * x           scaled LayerNorm input;
                                               gamma = 1e-6, gamma_x = 1 at init
    z  = Down(u)                               C -> d (64)
    z  = z + (DW3(z) + DW5(z) + DW7(z)) / 3    depthwise k x k on the token grid
    z  = z + P(z)                              P: 1x1 conv d -> d
    A(x) = s * Up(Dropout(GELU(z)))            d -> C

Two per block, each on the stream after a sub-block's residual add
(position '<sub>_post'):

    y = x + DropPath(Attn(LN1 x));   x <- y + A1(y)
    y = x + DropPath(MLP(LN2 x));    x <- y + A2(y)

How it is computed (the result is the one above, to float rounding): the
three depthwise kernels, averaged and zero-padded to 7 x 7, plus the
identity on the centre tap, make one 7 x 7 depthwise convolution; the skip
around P is folded into its weight (P + I) and applied to the tokens as a
Linear. Prefix tokens (a ViT class token) are convolved as 1x1 maps: only
the centre taps touch them.

Init: as the authors' code (PyTorch defaults for Down and the
convolutions), except that Up is zero (``zero_init=True``), so A(x) = 0 and
the network starts as the pretrained one; ``zero_init=False`` keeps the
authors' default Up. Parameters per adapter:
    4*C (LN, gamma, gamma_x) + (C*d + d) + 86*d (depthwise 3/5/7 with
    biases) + (d*d + d) + (d*C + C)  =  2*C*d + 5*C + d*d + 88*d.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ADAPTERS, Adapter, merge_tokens, split_tokens


class MultiScaleDepthwise(nn.Module):
    """z + mean(DW3 z, DW5 z, DW7 z), then + P(...), on (B, N, d) tokens."""
    KERNEL_SIZES = (3, 5, 7)

    def __init__(self, channels: int):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels)
            for k in self.KERNEL_SIZES)
        self.projector = nn.Conv2d(channels, channels, 1)

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()
        self.projector.reset_parameters()

    def combined_kernel(self):
        """One (d, 1, 7, 7) kernel and bias: the mean of the three,
        zero-padded to 7 x 7, plus the identity on the centre tap."""
        size = max(self.KERNEL_SIZES)
        kernel = sum(
            F.pad(conv.weight, [(size - conv.kernel_size[0]) // 2] * 4)
            for conv in self.convs) / len(self.convs)
        identity = torch.zeros_like(kernel)
        identity[:, :, size // 2, size // 2] = 1
        bias = sum(conv.bias for conv in self.convs) / len(self.convs)
        return kernel + identity, bias

    def forward(self, x, hw_shape, num_prefix_tokens=0):
        kernel, bias = self.combined_kernel()
        prefix, grid = split_tokens(x, hw_shape, num_prefix_tokens)
        grid = F.conv2d(grid, kernel, bias, padding=kernel.shape[-1] // 2,
                        groups=kernel.shape[0])
        centre = kernel.shape[-1] // 2
        prefix = prefix * kernel[:, 0, centre, centre] + bias
        z = merge_tokens(prefix, grid)
        weight = self.projector.weight[:, :, 0, 0]
        identity = torch.eye(weight.shape[0], dtype=weight.dtype,
                             device=weight.device)
        return F.linear(z, weight + identity, self.projector.bias)


@ADAPTERS.register_module()
class Mona(Adapter):
    """Multi-scale depthwise-convolution adapter on the residual stream.

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Hidden width d. Defaults to 64 (the authors' value
            at every stage).
        dropout (float): Dropout after the GELU. Defaults to 0.1.
        scale (float): Output scale s. Defaults to 1 (the authors have none).
        learnable_scale (bool): Learn s (starting from ``scale``).
        zero_init (bool): Zero Up, for an identity start. Defaults to True.
    """
    default_position = ('attn_post', 'mlp_post')
    parallel_reads = 'residual'
    parallel_drop_path = False

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int = 64,
                 dropout: float = 0.1,
                 scale: float = 1.0,
                 learnable_scale: bool = False,
                 zero_init: bool = True):
        super().__init__(embed_dims, scale, learnable_scale)
        self.zero_init = zero_init
        self.norm = nn.LayerNorm(embed_dims)
        self.gamma = nn.Parameter(torch.empty(embed_dims))
        self.gamma_x = nn.Parameter(torch.empty(embed_dims))
        self.down = nn.Linear(embed_dims, bottleneck)
        self.conv = MultiScaleDepthwise(bottleneck)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.up = nn.Linear(bottleneck, embed_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        nn.init.constant_(self.gamma, 1e-6)
        nn.init.ones_(self.gamma_x)
        self.down.reset_parameters()
        self.conv.reset_parameters()
        if self.zero_init:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)
        else:
            self.up.reset_parameters()

    def forward(self, x, hw_shape, num_prefix_tokens=0):
        u = self.norm(x) * self.gamma + x * self.gamma_x
        z = self.conv(self.down(u), hw_shape, num_prefix_tokens)
        return self.up(self.drop(self.act(z))) * self.scale
