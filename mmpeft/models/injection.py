"""Attach adapters to the blocks of upstream Transformer backbones.

Every supported block follows the pre-norm pattern

    x <- x + Attn(LN1 x)          (attention sub-block)
    x <- x + MLP(LN2 x)           (MLP sub-block)

and differs only in attribute names, in whether the sub-module adds the
residual itself (through an ``identity=`` keyword) and in how the token grid
(H, W) reaches it. :class:`BlockSpec` records those differences, so a new
block family is one table entry (see ``mmpeft.models.backbones``), never a
copy of its forward function.

Adapters run in forward hooks on the sub-modules of one block instance: no
upstream class is touched, the upstream state-dict keys stay as they are and
the adapters live under ``<block>.adapters.<position>``. The hooks also run
when the block's forward is recomputed under activation checkpointing.

Positions, for a sub-block with branch output ``b = DropPath(F(LN x))``:

    '<sub>_parallel':    x <- x + b + A(r)   r = LN x ('normed') or x
                                              ('residual'), per adapter class
    '<sub>_sequential':  x <- x + (b + A(b))
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..adapters.base import ADAPTERS_ATTR, is_adapter_key

SUB_BLOCKS = ('attn', 'mlp')
MODES = ('parallel', 'sequential')
POSITIONS = tuple(f'{sub}_{mode}' for sub in SUB_BLOCKS for mode in MODES)
# Short names from the papers: AdaptFormer's and iConFormer's 'parallel' and
# 'sequential' both mean next to / after the MLP.
POSITION_ALIASES = {'parallel': 'mlp_parallel', 'sequential': 'mlp_sequential'}


@dataclass(frozen=True)
class SubBlockSpec:
    """How a block exposes one sub-block.

    Attributes:
        module: attribute name of the sub-module (attention or MLP).
        drop_path: attribute of that sub-module holding its drop-path.
        residual_kwarg: keyword through which the sub-module receives the
            residual stream and adds it to its output itself (mmcv's
            ``identity=``); None when the block adds the residual.
    """
    module: str
    drop_path: str
    residual_kwarg: Optional[str] = None


@dataclass(frozen=True)
class BlockSpec:
    """How a Transformer block exposes its sub-blocks and its token grid.

    Attributes:
        attn, mlp: the two sub-blocks.
        grid_arg: position of ``hw_shape`` among the attention module's
            arguments (Swin); None when the backbone supplies the grid
            (ViT, from its patch embedding).
    """
    attn: SubBlockSpec
    mlp: SubBlockSpec
    grid_arg: Optional[int] = None

    def sub_block(self, name: str) -> SubBlockSpec:
        return getattr(self, name)


class TokenGrid:
    """The (H, W) grid and prefix-token count the adapters of a block see.

    The grid is recorded by a hook: from a positional argument of the
    attention module (``from_args``) or from the patch embedding's output
    (``from_output``). Hooks are bound methods, not closures, so that a deep
    copy of the model (EMA, say) records into its own grid.
    """

    def __init__(self, num_prefix_tokens: int = 0, index: int = 1):
        self.hw_shape: Optional[Tuple[int, int]] = None
        self.num_prefix_tokens = num_prefix_tokens
        self.index = index

    def from_args(self, module, args):
        self.hw_shape = tuple(args[self.index])

    def from_output(self, module, args, output):
        self.hw_shape = tuple(output[self.index])


def resolve_position(name: str) -> str:
    name = POSITION_ALIASES.get(name, name)
    if name not in POSITIONS:
        raise KeyError(
            f'adapter.position: unknown position {name!r}; allowed: '
            f'{list(POSITIONS) + list(POSITION_ALIASES)}')
    return name


class SubBlockAdapters:
    """Forward hooks that run the adapters placed on one sub-module."""

    def __init__(self, spec: SubBlockSpec, module: nn.Module,
                 grid: TokenGrid, parallel: Sequence[nn.Module],
                 sequential: Sequence[nn.Module]):
        self.spec = spec
        self.grid = grid
        self.parallel = list(parallel)
        self.sequential = list(sequential)
        self.drop_path = getattr(module, spec.drop_path)
        # Sequential adapters need the branch alone. A sub-module that adds
        # the residual itself is handed zeros instead, and the residual is
        # added back after the adapters.
        self.swap_residual = bool(self.sequential) and bool(
            spec.residual_kwarg)
        self._inputs = None
        self._residual = None

    def attach(self, module: nn.Module) -> None:
        module.register_forward_pre_hook(self.before, with_kwargs=True)
        module.register_forward_hook(self.after, with_kwargs=True)

    def before(self, module, args, kwargs):
        self._inputs = args[0]
        if not self.spec.residual_kwarg:
            return None
        self._residual = kwargs.get(self.spec.residual_kwarg)
        if self._residual is None:
            raise RuntimeError(
                f'{type(module).__name__} was called without '
                f'{self.spec.residual_kwarg}=, which the adapters need')
        if not self.swap_residual:
            return None
        kwargs = dict(kwargs)
        kwargs[self.spec.residual_kwarg] = torch.zeros_like(self._residual)
        return args, kwargs

    def after(self, module, args, kwargs, output):
        hw_shape, prefix = self.grid.hw_shape, self.grid.num_prefix_tokens
        for adapter in self.sequential:
            output = output + adapter(output, hw_shape, prefix)
        if self.swap_residual:
            output = self._residual + output
        for adapter in self.parallel:
            source = (self._residual if adapter.parallel_reads == 'residual'
                      else self._inputs)
            delta = adapter(source, hw_shape, prefix)
            if adapter.parallel_drop_path:
                delta = self.drop_path(delta)
            output = output + delta
        self._inputs = self._residual = None
        return output


def check_placement(adapter_type: type, position: str, spec: BlockSpec,
                    family: str) -> None:
    """Fail early for a placement this block family cannot provide."""
    sub, mode = position.split('_')
    if (mode == 'parallel' and adapter_type.parallel_reads == 'residual'
            and not spec.sub_block(sub).residual_kwarg):
        raise ValueError(
            f'adapter.position={position!r}: {adapter_type.__name__} in '
            f'parallel reads the residual stream, which the {sub} sub-module '
            f'of {family} blocks does not receive; use '
            f"'{sub}_sequential' or an 'mlp_*' position")


def inject_block(block: nn.Module, spec: BlockSpec,
                 adapters: Dict[str, nn.Module], grid: TokenGrid) -> None:
    """Register ``adapters`` (position -> module) in ``block`` and hook them
    into its sub-modules. ``grid`` supplies (H, W) and the prefix count."""
    block.add_module(ADAPTERS_ATTR, nn.ModuleDict(adapters))
    if spec.grid_arg is not None:
        grid.index = spec.grid_arg
        getattr(block, spec.attn.module).register_forward_pre_hook(
            grid.from_args)
    for sub in SUB_BLOCKS:
        placed = {mode: [] for mode in MODES}
        for position, adapter in adapters.items():
            if position.startswith(sub + '_'):
                placed[position.split('_')[1]].append(adapter)
        if not placed['parallel'] and not placed['sequential']:
            continue
        sub_spec = spec.sub_block(sub)
        module = getattr(block, sub_spec.module)
        SubBlockAdapters(sub_spec, module, grid, placed['parallel'],
                         placed['sequential']).attach(module)


def adapter_param_names(module: nn.Module) -> List[str]:
    return [n for n, _ in module.named_parameters() if is_adapter_key(n)]
