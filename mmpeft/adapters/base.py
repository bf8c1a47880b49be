"""What every adapter shares: the registry, the call interface and the
token-grid helpers.

Adapters come in three kinds, told apart by the class attribute
``attaches_to`` (the injection in ``mmpeft.models.injection`` hooks each
kind where it belongs):

* ``'sub_block'`` (:class:`Adapter`): a plain ``nn.Module`` called as
  ``adapter(x, hw_shape, num_prefix_tokens)`` on token features ``x`` of
  shape (B, N, C), where the last ``H * W`` tokens lie on the (H, W) grid in
  row-major order and the first ``num_prefix_tokens`` (a ViT class token,
  say) do not. It returns its contribution to the stream, already multiplied
  by its scale, in the shape of ``x``.
* ``'linear'`` (LoRA): called as ``adapter(x)`` on the input of a Linear
  layer of the block; returns what to add to that layer's output, or to
  one slice of it (q, k or v of a fused qkv projection; see
  :class:`LinearSlice`).
* ``'block'`` (VPT): changes the token sequence entering and leaving a
  block (``insert`` / ``remove``).

Where an adapter sits in a block is not its business: the class only states
its default position and, for the first kind, what a parallel placement
reads.
"""
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.registry import Registry

ADAPTERS = Registry('adapter', scope='mmpeft', locations=['mmpeft.adapters'])
# Injected adapters live in ``<block>.adapters.<position>``; this name marks
# their parameters and state-dict keys.
ADAPTERS_ATTR = 'adapters'


def is_adapter_key(key: str) -> bool:
    return f'.{ADAPTERS_ATTR}.' in f'.{key}'


@dataclass(frozen=True)
class LinearSlice:
    """Rows of a Linear layer's weight (and output channels) that a
    ``'linear'`` adapter adds to: slice ``index`` of ``count`` equal ones.

    Attributes:
        path: the Linear layer, relative to its block
            (``'attn.w_msa.qkv'``).
        index: which slice (q = 0, k = 1, v = 2 of a fused qkv).
        count: the number of slices (3 for a fused qkv, 1 otherwise).
    """
    path: str
    index: int = 0
    count: int = 1

    def rows(self, out_features: int) -> slice:
        size = out_features // self.count
        return slice(self.index * size, (self.index + 1) * size)


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the GELU approximation used by Convpass."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


ACTIVATIONS = {
    'identity': nn.Identity,  # none (iConFormer's DTF form has none)
    'relu': nn.ReLU,
    'gelu': nn.GELU,
    'quick_gelu': QuickGELU,
    'silu': nn.SiLU,
}


def build_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f'unknown activation {name!r}; '
                         f'choose one of {sorted(ACTIVATIONS)}')
    return ACTIVATIONS[name]()


class Adapter(nn.Module):
    """Base class: the interface and the placement defaults of a method.

    Class attributes read by the injection mechanism:
        attaches_to: the kind of adapter (see the module docstring).
        position_key: the config key naming its positions.
        default_position: position name(s) used when the config gives none.
        parallel_reads: what a parallel placement feeds the adapter, either
            ``'residual'`` (the stream entering the sub-block, before its
            norm) or ``'normed'`` (the sub-block's input, after the norm).
        parallel_drop_path: whether a parallel adapter's output goes through
            the drop-path of the branch it sits beside.
    """
    attaches_to = 'sub_block'
    position_key = 'position'
    default_position = 'mlp_parallel'
    parallel_reads = 'residual'
    parallel_drop_path = False

    def __init__(self, embed_dims: int, scale: float = 0.1,
                 learnable_scale: bool = False):
        super().__init__()
        self.embed_dims = embed_dims
        if learnable_scale:
            self.scale = nn.Parameter(torch.tensor([float(scale)]))
        else:
            self.register_buffer(
                'scale', torch.tensor([float(scale)]), persistent=False)

    def reset_parameters(self) -> None:
        """Put the adapter back to its initial state (output exactly 0)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, hw_shape: Tuple[int, int],
                num_prefix_tokens: int = 0) -> torch.Tensor:
        raise NotImplementedError


def check_grid_tokens(num_tokens: int, hw_shape: Tuple[int, int],
                      num_prefix_tokens: int) -> None:
    height, width = hw_shape
    if num_tokens != num_prefix_tokens + height * width:
        raise ValueError(
            f'{num_tokens} tokens do not match a {height}x{width} grid with '
            f'{num_prefix_tokens} prefix tokens')


def split_tokens(x: torch.Tensor, hw_shape: Tuple[int, int],
                 num_prefix_tokens: int):
    """(B, P + H*W, C) tokens -> (B, P, C) prefix and (B, C, H, W) map."""
    batch, num_tokens, channels = x.shape
    height, width = hw_shape
    check_grid_tokens(num_tokens, hw_shape, num_prefix_tokens)
    prefix = x[:, :num_prefix_tokens]
    grid = x[:, num_prefix_tokens:].transpose(1, 2).reshape(
        batch, channels, height, width)
    return prefix, grid


def merge_tokens(prefix: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_tokens`."""
    tokens = grid.flatten(2).transpose(1, 2)
    if prefix.shape[1] == 0:
        return tokens
    return torch.cat([prefix, tokens], dim=1)
