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
    K     = W2 ReLU(W1 z + b1) + b2                 generator='mlp' (default)
    K     = W z + b                                 generator='conv1x1'
    K     = FN(K)                                   kernel_norm='filter'
    y     = x_hat (*) K                             depthwise, each sample with
                                                     its own kernels
    y     = x_hat + y         if static_path        (keeps the plain bottleneck
                                                     path beside the dynamic one)
    A(x)  = s * Up(Dropout(GELU(y)))                Up: d -> C, zero-init

FilterNorm standardises each generated kernel over its k*k taps, then gives
channel c a learnable spread and offset (initialised to sqrt(2)/k and 0):

    FN(K)[b, c] = std_c * (K[b, c] - mean(K[b, c])) / (sd(K[b, c]) + eps)
                  + mean_c                          sd: unbiased, eps = 1e-5

Both options are as in the same authors' Dynamic Task Filter (DTF,
TADFormer, CVPR 2025, punpunzaz10/TADFormer, models/lora.py), the nearest
public code to iCoN: DTF average-pools the (B, d, h, w) map, maps it with a
1x1 convolution d -> d*k*k (our 'conv1x1' with pool='avg'; a 1x1
convolution of a 1x1 map is a linear layer), normalises the kernels, and
convolves (k = 3) with no static path, no activation and no dropout
before Up. Where we differ from that code: DTF's learnable std and mean
are one value per tap (d*k*k each) drawn at random (std ~ N(0, 1) *
sqrt(2)/k, mean ~ N(0, 1)); ours are one per channel, initialised
deterministically, so each kernel of channel c has exactly mean mean_c and
spread |std_c|. DTF sits in a LoRA branch beside a frozen linear layer;
the adapter stays where iConFormer puts it (after the MLP). Our default
(generator='mlp', kernel_norm=None, static_path=True, GELU) is this
project's reading of iConFormer, kept until the two forms are compared;
``dict(type='iConFormer', generator='conv1x1', kernel_norm='filter')``
takes DTF's kernels, and adding ``static_path=False, act='identity',
dropout=0`` gives DTF's whole path between Down and Up.

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
      channels-first map is built only for pool='grid';
    * the static path is folded into the kernels: x_hat + x_hat (*) K =
      x_hat (*) (K + centre-tap identity), one pass less;
    * the scale is folded into Up's weight and bias (the shared bottleneck,
      ``bottleneck.py``).

Placement (Figure 2): sequential after the MLP, as in AdaptFormer's
sequential form,  m = DropPath(MLP(LN2 x)),  x <- x + (m + A(m));
``position='mlp_parallel'`` gives the parallel form of Figure 3, which reads
the stream entering the MLP sub-block like AdaptFormer's.

Up is zero-initialised, so A(x) = 0 at init (any options) and the network
starts as the pretrained one. Parameters per adapter, with p the pooled
size (d, 2d or d*k*k) and r the generator width:
    (C*d + d) + (d*C + C) + G + F
    G = (p*r + r) + (r*d*k*k + d*k*k)   generator='mlp'
    G = p*d*k*k + d*k*k                 generator='conv1x1'
    F = 2*d if kernel_norm='filter' else 0.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ADAPTERS, check_grid_tokens
from .bottleneck import BottleneckAdapter, kaiming_init


class FilterNorm(nn.Module):
    """Each kernel standardised over its k*k taps, then std_c * . + mean_c
    per channel c."""
    EPS = 1e-5

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.std = nn.Parameter(torch.empty(channels))
        self.mean = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # DTF's spread, the ReLU gain over the kernel's side (He-like).
        nn.init.constant_(self.std, math.sqrt(2.0) / self.kernel_size)
        nn.init.zeros_(self.mean)

    def forward(self, kernels: torch.Tensor) -> torch.Tensor:
        """(B, d, k, k) -> (B, d, k, k)."""
        taps = kernels.flatten(2)
        taps = (taps - taps.mean(-1, keepdim=True)) / (
            taps.std(-1, keepdim=True) + self.EPS)
        taps = taps * self.std[:, None] + self.mean[:, None]
        return taps.view_as(kernels)


def tokens_as_map(tokens: torch.Tensor,
                  hw_shape: Tuple[int, int]) -> torch.Tensor:
    """Grid tokens (B, H*W, d) as a (B, d, H, W) channels-last view."""
    batch, _, channels = tokens.shape
    height, width = hw_shape
    return tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2)


class InputConditionedKernels(nn.Module):
    """iCoN: pooled bottleneck tokens -> one k x k kernel per channel."""
    POOLS = ('avg', 'max', 'avgmax', 'grid')
    GENERATORS = ('mlp', 'conv1x1')
    KERNEL_NORMS = (None, 'filter')

    def __init__(self, channels: int, kernel_size: int, hidden: int,
                 pool: str, generator: str = 'mlp',
                 kernel_norm: Optional[str] = None):
        super().__init__()
        for name, value, choices in (('pool', pool, self.POOLS),
                                     ('generator', generator,
                                      self.GENERATORS),
                                     ('kernel_norm', kernel_norm,
                                      self.KERNEL_NORMS)):
            if value not in choices:
                raise ValueError(f'iConFormer: {name}={value!r}; choose one '
                                 f'of {choices}')
        if generator == 'mlp' and hidden < 1:
            raise ValueError(f'iConFormer: generator_hidden must be >= 1, '
                             f'got {hidden}')
        if kernel_norm == 'filter' and kernel_size < 3:
            raise ValueError(f"iConFormer: kernel_norm='filter' needs "
                             f'kernel_size >= 3 (one tap has no spread to '
                             f'standardise), got {kernel_size}')
        self.channels = channels
        self.kernel_size = kernel_size
        self.pool = pool
        pooled = {
            'avg': channels,
            'max': channels,
            'avgmax': 2 * channels,
            'grid': channels * kernel_size**2,
        }[pool]
        self.generator = generator
        kernel_numel = channels * kernel_size**2
        if generator == 'mlp':
            self.fc1 = nn.Linear(pooled, hidden)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(hidden, kernel_numel)
        else:
            self.fc = nn.Linear(pooled, kernel_numel)
        self.filter_norm = (FilterNorm(channels, kernel_size)
                            if kernel_norm == 'filter' else None)

    def linears(self) -> Tuple[nn.Linear, ...]:
        return (self.fc1, self.fc2) if self.generator == 'mlp' else (
            self.fc, )

    def reset_parameters(self) -> None:
        for linear in self.linears():
            kaiming_init(linear.weight)
            nn.init.zeros_(linear.bias)
        if self.filter_norm is not None:
            self.filter_norm.reset_parameters()

    def summarise(self, tokens: torch.Tensor,
                  hw_shape: Tuple[int, int]) -> torch.Tensor:
        """Grid tokens (B, H*W, d) -> pooled summary (B, p)."""
        if self.pool == 'avg':
            return tokens.mean(dim=1)
        if self.pool == 'max':
            return tokens.amax(dim=1)
        if self.pool == 'avgmax':
            return torch.cat([tokens.mean(dim=1), tokens.amax(dim=1)], 1)
        return F.adaptive_avg_pool2d(tokens_as_map(tokens, hw_shape),
                                     self.kernel_size).flatten(1)

    def forward(self, tokens: torch.Tensor,
                hw_shape: Tuple[int, int]) -> torch.Tensor:
        """Grid tokens (B, H*W, d) -> kernels (B, d, k, k)."""
        summary = self.summarise(tokens, hw_shape)
        if self.generator == 'mlp':
            kernels = self.fc2(self.act(self.fc1(summary)))
        else:
            kernels = self.fc(summary)
        kernels = kernels.view(-1, self.channels, self.kernel_size,
                               self.kernel_size)
        if self.filter_norm is not None:
            kernels = self.filter_norm(kernels)
        return kernels


def per_sample_depthwise_conv(tokens: torch.Tensor,
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


@ADAPTERS.register_module()
class iConFormer(BottleneckAdapter):  # noqa: N801 (the method's own spelling)
    """Input-conditioned dynamic adapter.

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Bottleneck width d. Defaults to 64.
        kernel_size (int): Odd size k of the generated kernels. Defaults to 3.
        generator_hidden (int): Hidden width r of the 'mlp' generator.
            Defaults to 32.
        pool (str): How iCoN summarises x_hat: 'avg', 'max', 'avgmax' or
            'grid'. Defaults to 'avg'.
        generator (str): 'mlp' (two layers, ReLU) or 'conv1x1' (one linear
            layer, DTF's 1x1 convolution). Defaults to 'mlp'.
        kernel_norm (str, optional): None or 'filter' (DTF's FilterNorm,
            one learnable std and mean per channel). Defaults to None.
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
                 generator: str = 'mlp',
                 kernel_norm: Optional[str] = None,
                 static_path: bool = True,
                 scale: float = 0.1,
                 learnable_scale: bool = False,
                 dropout: float = 0.1,
                 act: str = 'gelu'):
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'iConFormer: kernel_size must be odd and >= 1, '
                             f'got {kernel_size}')
        super().__init__(embed_dims, bottleneck, act=act, dropout=dropout,
                         scale=scale, learnable_scale=learnable_scale)
        self.static_path = static_path
        self.icon = InputConditionedKernels(bottleneck, kernel_size,
                                            generator_hidden, pool,
                                            generator, kernel_norm)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.icon.reset_parameters()

    def dynamic_kernels(self, x, hw_shape, num_prefix_tokens=0):
        """The per-sample kernels (B, d, k, k) iCoN generates for ``x``."""
        check_grid_tokens(x.shape[1], hw_shape, num_prefix_tokens)
        return self.icon(self.down(x)[:, num_prefix_tokens:], hw_shape)

    def mix(self, x_hat, hw_shape, num_prefix_tokens):
        check_grid_tokens(x_hat.shape[1], hw_shape, num_prefix_tokens)
        tokens = x_hat[:, num_prefix_tokens:]
        kernels = self.icon(tokens, hw_shape)
        size = self.icon.kernel_size
        if self.static_path:
            # x_hat + x_hat (*) K == x_hat (*) (K + identity on the centre tap)
            identity = kernels.new_zeros(size, size)
            identity[size // 2, size // 2] = 1
            kernels = kernels + identity
        out = per_sample_depthwise_conv(tokens, hw_shape, kernels)
        if num_prefix_tokens:
            centre = kernels[:, None, :, size // 2, size // 2]
            out = torch.cat([x_hat[:, :num_prefix_tokens] * centre, out], 1)
        else:
            # Back to token order once, so the activation, the dropout and
            # Up read contiguous memory (at batch > 1 the view is strided).
            out = out.contiguous()
        return self.act(out)
