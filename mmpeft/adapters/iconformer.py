r"""iConFormer: a dynamic adapter whose input-conditioned network (iCoN)
generates, per sample, one k x k kernel for each bottleneck channel
(Jo et al., 2024).

The paper gives no equations and no code is public; the equations below are
THIS PROJECT'S READING of its text and figures (Figures 2-4), not the
authors' definition. Each choice is an option.

    x_hat = Down(x)                                 (B, N, d), Down: C -> d
    z     = Pool(x_hat on its H x W grid)           pool='avg' | 'max' | 'avgmax'
                                                     (a d or 2d vector) or
                                                     'grid' (each channel
                                                     pooled to k x k)
    K     = W2 ReLU(W1 z + b1) + b2                 (B, d, k, k): iCoN
    y     = x_hat (*) K                             depthwise, each sample with
                                                     its own kernels
    y     = x_hat + y         if static_path        (keeps the plain bottleneck
                                                     path beside the dynamic one)
    A(x)  = s * Up(Dropout(GELU(y)))                Up: d -> C, zero-init

Prefix tokens (a ViT class token) are convolved as 1x1 maps (centre tap).
The kernels of a whole batch are applied by one grouped convolution:
x_hat as (1, B*d, H, W), K as (B*d, 1, k, k), groups = B*d.

How it is computed (the result is the one above, to float rounding):
    * the grouped convolution runs in channels-last memory layout, which is
      the tokens' own (B, H, W, d) layout: at batch 1 the map is a view of
      the tokens and no copy is made either way; at batch B one copy goes
      in and one comes out. The channels-first layout needed two transposes
      and a slow channels-first depthwise kernel (CPU: 25x slower at
      batch 1 on a 128 x 128 map);
    * iCoN pools the tokens directly (mean / max over tokens), so the
      channels-first map is never built;
    * the static path is folded into the kernels: x_hat + x_hat (*) K =
      x_hat (*) (K + centre-tap identity), one pass less;
    * the scale is folded into Up's weight and bias, one pass less.

Placement (Figure 2): sequential after the MLP, as in AdaptFormer's
sequential form,  m = DropPath(MLP(LN2 x)),  x <- x + (m + A(m));
``position='mlp_parallel'`` gives the parallel form of Figure 3, which reads
the stream entering the MLP sub-block like AdaptFormer's.

Up is zero-initialised, so A(x) = 0 at init and the network starts as the
pretrained one. Parameters per adapter, with p the pooled size (d, 2d or
d*k*k) and r the generator width:
    (C*d + d) + (d*C + C) + (p*r + r) + (r*d*k*k + d*k*k).
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ADAPTERS, Adapter, build_activation, split_tokens


class InputConditionedKernels(nn.Module):
    """iCoN: pooled bottleneck features -> one k x k kernel per channel."""
    POOLS = ('avg', 'max', 'avgmax', 'grid')

    def __init__(self, channels: int, kernel_size: int, hidden: int,
                 pool: str):
        super().__init__()
        if pool not in self.POOLS:
            raise ValueError(f'iConFormer: pool={pool!r}; choose one of '
                             f'{self.POOLS}')
        self.channels = channels
        self.kernel_size = kernel_size
        self.pool = pool
        pooled = {
            'avg': channels,
            'max': channels,
            'avgmax': 2 * channels,
            'grid': channels * kernel_size**2,
        }[pool]
        self.fc1 = nn.Linear(pooled, hidden)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden, channels * kernel_size**2)

    def summarise(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, d, H, W) map (any memory layout) -> pooled summary."""
        if self.pool == 'avg':
            return grid.mean(dim=(2, 3))
        if self.pool == 'max':
            return grid.amax(dim=(2, 3))
        if self.pool == 'avgmax':
            return torch.cat([grid.mean(dim=(2, 3)), grid.amax(dim=(2, 3))], 1)
        return F.adaptive_avg_pool2d(grid, self.kernel_size).flatten(1)

    def summarise_tokens(self, tokens: torch.Tensor,
                         hw_shape: Tuple[int, int]) -> torch.Tensor:
        """The same summary from grid tokens (B, H*W, d), without a copy."""
        if self.pool == 'avg':
            return tokens.mean(dim=1)
        if self.pool == 'max':
            return tokens.amax(dim=1)
        if self.pool == 'avgmax':
            return torch.cat([tokens.mean(dim=1), tokens.amax(dim=1)], 1)
        return self.summarise(tokens_as_map(tokens, hw_shape))

    def generate(self, summary: torch.Tensor) -> torch.Tensor:
        """Pooled summary (B, p) -> kernels (B, d, k, k)."""
        kernels = self.fc2(self.act(self.fc1(summary)))
        return kernels.view(-1, self.channels, self.kernel_size,
                            self.kernel_size)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """(B, d, H, W) -> kernels (B, d, k, k)."""
        return self.generate(self.summarise(grid))


def tokens_as_map(tokens: torch.Tensor,
                  hw_shape: Tuple[int, int]) -> torch.Tensor:
    """Grid tokens (B, H*W, d) as a (B, d, H, W) channels-last view."""
    batch, _, channels = tokens.shape
    height, width = hw_shape
    return tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2)


def per_sample_depthwise_conv_tokens(tokens: torch.Tensor,
                                     hw_shape: Tuple[int, int],
                                     kernels: torch.Tensor) -> torch.Tensor:
    """Grid tokens (B, H*W, d), each sample's channels convolved with its own
    kernels (B, d, k, k) by one grouped convolution in channels-last layout.

    Returns (B, H*W, d); a view of the convolution's output at batch 1, a
    (B, H*W, d)-shaped view in (H, W, B, d) memory order otherwise.
    """
    batch, num_tokens, channels = tokens.shape
    height, width = hw_shape
    kernel_size = kernels.shape[-1]
    # (B, H, W, d) -> (H, W, B, d) memory = the channels-last (1, B*d, H, W)
    # map (a view at batch 1).
    grid = tokens.reshape(batch, height, width, channels).permute(1, 2, 0, 3)
    grid = grid.reshape(1, height, width, batch * channels).permute(0, 3, 1, 2)
    out = F.conv2d(
        grid,
        kernels.reshape(batch * channels, 1, kernel_size, kernel_size),
        padding=kernel_size // 2,
        groups=batch * channels)
    out = out.permute(0, 2, 3, 1).reshape(height, width, batch, channels)
    return out.permute(2, 0, 1, 3).reshape(batch, num_tokens, channels)


def per_sample_depthwise_conv(grid: torch.Tensor,
                              kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each sample's channels with its own kernels, in one call.

    ``grid`` (B, d, H, W) in any memory layout; returns (B, d, H, W).
    """
    batch, channels, height, width = grid.shape
    tokens = grid.permute(0, 2, 3, 1).reshape(batch, height * width,
                                              channels)
    out = per_sample_depthwise_conv_tokens(tokens, (height, width), kernels)
    return tokens_as_map(out, (height, width))


@ADAPTERS.register_module()
class iConFormer(Adapter):  # noqa: N801 (the method's own spelling)
    """Input-conditioned dynamic adapter.

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Bottleneck width d. Defaults to 64.
        kernel_size (int): Odd size k of the generated kernels. Defaults to 3.
        generator_hidden (int): Hidden width r of iCoN. Defaults to 32.
        pool (str): How iCoN summarises x_hat: 'avg', 'max', 'avgmax' or
            'grid'. Defaults to 'avg'.
        static_path (bool): Keep x_hat beside the dynamic convolution.
            Defaults to True.
        scale (float): Output scale s. Defaults to 0.1.
        learnable_scale (bool): Learn s (starting from ``scale``).
        dropout (float): Dropout before Up. Defaults to 0.1.
        act (str): Activation after the convolution. Defaults to 'gelu'.
    """
    default_position = 'mlp_sequential'
    parallel_reads = 'residual'
    parallel_drop_path = False

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int = 64,
                 kernel_size: int = 3,
                 generator_hidden: int = 32,
                 pool: str = 'avg',
                 static_path: bool = True,
                 scale: float = 0.1,
                 learnable_scale: bool = False,
                 dropout: float = 0.1,
                 act: str = 'gelu'):
        super().__init__(embed_dims, scale, learnable_scale)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'iConFormer: kernel_size must be odd and >= 1, '
                             f'got {kernel_size}')
        if generator_hidden < 1:
            raise ValueError(f'iConFormer: generator_hidden must be >= 1, '
                             f'got {generator_hidden}')
        self.static_path = static_path
        self.down = nn.Linear(embed_dims, bottleneck)
        self.icon = InputConditionedKernels(bottleneck, kernel_size,
                                            generator_hidden, pool)
        self.act = build_activation(act)
        self.drop = nn.Dropout(dropout)
        self.up = nn.Linear(bottleneck, embed_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for linear in (self.down, self.icon.fc1, self.icon.fc2):
            nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5))
            nn.init.zeros_(linear.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def dynamic_kernels(self, x, hw_shape, num_prefix_tokens=0):
        """The per-sample kernels (B, d, k, k) iCoN generates for ``x``."""
        _, grid = split_tokens(self.down(x), hw_shape, num_prefix_tokens)
        return self.icon(grid)

    def forward(self, x, hw_shape, num_prefix_tokens=0):
        x_hat = self.down(x)
        batch, num_tokens, _ = x_hat.shape
        height, width = hw_shape
        if num_tokens != num_prefix_tokens + height * width:
            raise ValueError(
                f'{num_tokens} tokens do not match a {height}x{width} grid '
                f'with {num_prefix_tokens} prefix tokens')
        tokens = x_hat[:, num_prefix_tokens:]
        kernels = self.icon.generate(
            self.icon.summarise_tokens(tokens, hw_shape))
        size = self.icon.kernel_size
        if self.static_path:
            # x_hat + x_hat (*) K == x_hat (*) (K + identity on the centre tap)
            identity = kernels.new_zeros(size, size)
            identity[size // 2, size // 2] = 1
            kernels = kernels + identity
        out = per_sample_depthwise_conv_tokens(tokens, hw_shape, kernels)
        if num_prefix_tokens:
            centre = kernels[:, None, :, size // 2, size // 2]
            out = torch.cat([x_hat[:, :num_prefix_tokens] * centre, out], 1)
        else:
            out = out.contiguous()
        out = self.drop(self.act(out))
        # s * Up(h) == Up with weight and bias scaled by s.
        return F.linear(out, self.up.weight * self.scale,
                        self.up.bias * self.scale)
