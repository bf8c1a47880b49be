"""Attach adapters to the blocks of upstream Transformer backbones.

Every supported block follows the pre-norm pattern

    x <- x + Attn(LN1 x)          (attention sub-block)
    x <- x + MLP(LN2 x)           (MLP sub-block)

and differs only in attribute names, in whether the sub-module adds the
residual itself (through an ``identity=`` keyword), in whether drop-path
sits inside the sub-module or on the block, in how the token grid (H, W)
reaches it and in where its attention keeps its Linear layers.
:class:`BlockSpec` records those differences, so a new block family is one
table entry (see ``mmpeft.models.backbones``), never a copy of its forward
function.

Adapters run in forward hooks on the modules of one block instance: no
upstream class is touched, the upstream state-dict keys stay as they are and
the adapters live under ``<block>.adapters.<position>``. The hooks also run
when the block's forward is recomputed under activation checkpointing.

Positions of token adapters (``attaches_to='sub_block'``), for a sub-block
with branch ``b = DropPath(LayerScale(F(LN x)))`` (the branch the block adds
to the stream; adapters are never multiplied by a layer scale):

    '<sub>_parallel':    x <- x + b + A(r)   r = LN x ('normed') or x
                                              ('residual'), per adapter class
    '<sub>_sequential':  x <- x + (b + A(b))
    '<sub>_post':        y = x + b;  x <- y + A(y)   (on the stream after the
                                                      sub-block's residual add)

Positions of Linear adapters (``attaches_to='linear'``), on the attention's
Linear layers named in :class:`SubBlockSpec` ``linears``:

    'attn_q', 'attn_k', 'attn_v':  the q, k or v projection's output (and
                                   weight rows): its own Linear, or a third
                                   of a fused qkv
    'attn_proj':                   the output projection

Position of prompt adapters (``attaches_to='block'``):

    'block_input':  tokens inserted after the prefix tokens of the block's
                    input and removed from its output
"""
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..adapters.base import ADAPTERS_ATTR, LinearSlice, is_adapter_key

SUB_BLOCKS = ('attn', 'mlp')
MODES = ('parallel', 'sequential', 'post')
TOKEN_POSITIONS = tuple(f'{sub}_{mode}' for sub in SUB_BLOCKS
                        for mode in MODES)
# position -> the role of the attention's Linear layer it adds to; where a
# role lives (its own layer, or a third of a fused qkv) is SubBlockSpec's.
LINEAR_POSITIONS = {
    'attn_q': 'q',
    'attn_k': 'k',
    'attn_v': 'v',
    'attn_proj': 'proj',
}
BLOCK_POSITIONS = ('block_input', )
POSITION_KINDS = {
    **{p: 'sub_block' for p in TOKEN_POSITIONS},
    **{p: 'linear' for p in LINEAR_POSITIONS},
    **{p: 'block' for p in BLOCK_POSITIONS},
}
POSITIONS = tuple(POSITION_KINDS)
# Short names from the papers: AdaptFormer's and iConFormer's 'parallel' and
# 'sequential' both mean next to / after the MLP; LoRA names its targets.
POSITION_ALIASES = {
    'parallel': 'mlp_parallel',
    'sequential': 'mlp_sequential',
    'q': 'attn_q',
    'k': 'attn_k',
    'v': 'attn_v',
    'proj': 'attn_proj',
}


@dataclass(frozen=True)
class LinearRole:
    """Where one role (q, k, v, proj) of an attention lives: ``path`` of an
    nn.Linear relative to the attention module, and which of its ``count``
    equal output slices (q, k, v are slices 0, 1, 2 of a fused qkv)."""
    path: str
    index: int = 0
    count: int = 1


def fused_qkv(qkv: str, proj: str) -> Dict[str, LinearRole]:
    """The roles of an attention with one fused q/k/v projection."""
    return dict(q=LinearRole(qkv, 0, 3), k=LinearRole(qkv, 1, 3),
                v=LinearRole(qkv, 2, 3), proj=LinearRole(proj))


def separate_qkv(q: str, k: str, v: str,
                 proj: str) -> Dict[str, LinearRole]:
    """The roles of an attention with one projection per q, k and v."""
    return dict(q=LinearRole(q), k=LinearRole(k), v=LinearRole(v),
                proj=LinearRole(proj))


@dataclass(frozen=True)
class SubBlockSpec:
    """How a block exposes one sub-block.

    Attributes:
        module: attribute name of the sub-module (attention or MLP).
        drop_path: path, relative to the block, of the drop-path applied to
            this sub-block's branch: inside the sub-module
            (``'ffn.dropout_layer'``, mmcv style) or the block's own
            (``'drop_path'``, applied by the block to the sub-module's
            output, maybe shared by both sub-blocks as in EVA-02).
        norm: path of the norm that reads the residual stream entering the
            sub-block (its input is the residual for the adapters that need
            it when the sub-module does not receive it); its
            ``normalized_shape`` gives the adapters' width.
        residual_kwarg: keyword through which the sub-module receives the
            residual stream and adds it to its output itself (mmcv's
            ``identity=``); None when the block adds the residual.
        layer_scale: path, relative to the block, of the layer scale on the
            branch (None: no layer scale in this family). Adapters add
            outside it: their output is not multiplied by it.
        linears: the attention's Linear layers by role ('q', 'k', 'v',
            'proj'); see :func:`fused_qkv` and :func:`separate_qkv`.
        note: why roles are missing from ``linears``; quoted in errors.
    """
    module: str
    drop_path: str
    norm: str
    residual_kwarg: Optional[str] = None
    layer_scale: Optional[str] = None
    linears: Mapping[str, LinearRole] = field(default_factory=dict)
    note: str = ''

    @property
    def drop_path_inside(self) -> bool:
        """Whether the sub-module's output is already drop-pathed."""
        return self.drop_path.startswith(self.module + '.')


@dataclass(frozen=True)
class BlockSpec:
    """How a Transformer block exposes its sub-blocks and its token grid.

    Attributes:
        attn, mlp: the two sub-blocks.
        grid_arg: position of ``hw_shape`` among the attention module's
            arguments (Swin); None when the backbone supplies the grid
            (ViT, from its patch embedding).
        takes_extra_tokens: every token attends to the whole sequence (a
            plain ViT), so prompt tokens can join it.
        refusals: position -> why this family cannot provide it, for the
            positions whose requirement the rest of the spec does not meet
            (quoted in the error).
    """
    attn: SubBlockSpec
    mlp: SubBlockSpec
    grid_arg: Optional[int] = None
    takes_extra_tokens: bool = False
    refusals: Mapping[str, str] = field(default_factory=dict)

    def sub_block(self, name: str) -> SubBlockSpec:
        return getattr(self, name)

    def embed_dims(self, block: nn.Module) -> int:
        """The token channels of ``block``, read from its first norm."""
        return block.get_submodule(self.attn.norm).normalized_shape[-1]

    def why_not(self, position: str) -> Optional[str]:
        """None when ``position`` exists in this family, else the reason."""
        kind = POSITION_KINDS[position]
        if kind == 'linear':
            role = LINEAR_POSITIONS[position]
            if role in self.attn.linears:
                return None
            return self.attn.note or f'its attention has no {role!r} Linear'
        if kind == 'block' and not self.takes_extra_tokens:
            return self.refusals.get(position, 'its attention has no place '
                                     'for extra tokens')
        return self.refusals.get(position)

    def positions(self) -> Tuple[str, ...]:
        """The positions adapters can take in this family."""
        return tuple(p for p in POSITIONS if self.why_not(p) is None)


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


def resolve_position(name: str, kind: str = 'sub_block',
                     key: str = 'position') -> str:
    """The full name of position ``name`` for an adapter of ``kind``;
    ``key`` is the config key that gave it (for the error)."""
    full = POSITION_ALIASES.get(name, name)
    if POSITION_KINDS.get(full) != kind:
        allowed = [p for p in POSITIONS if POSITION_KINDS[p] == kind]
        allowed += [a for a, p in POSITION_ALIASES.items() if p in allowed]
        raise KeyError(f'adapter.{key}: unknown position {name!r}; '
                       f'allowed: {allowed}')
    return full


class SubBlockAdapters:
    """Forward hooks that run the token adapters placed on one sub-block.

    ``placed`` maps each mode ('parallel', 'sequential', 'post') to its
    adapters. The adapters act on the branch as the block adds it, after
    drop-path (and layer scale): on the sub-module's output when the
    drop-path is inside it, else on the output of the block's drop-path
    the call after the sub-module ran (:meth:`after_drop_path`).
    """

    def __init__(self, spec: SubBlockSpec, block: nn.Module,
                 grid: TokenGrid, placed: Mapping[str, Sequence[nn.Module]]):
        self.spec = spec
        self.grid = grid
        self.parallel = list(placed['parallel'])
        self.sequential = list(placed['sequential'])
        self.post = list(placed['post'])
        self.module = getattr(block, spec.module)
        self.drop_path = block.get_submodule(spec.drop_path)
        self.norm = block.get_submodule(spec.norm)
        # Sequential adapters need the branch alone. A sub-module that adds
        # the residual itself is handed zeros instead, and the residual is
        # added back after the adapters.
        self.swap_residual = bool(self.sequential) and bool(
            spec.residual_kwarg)
        # Post adapters and parallel ones reading the residual need the
        # stream entering the sub-block; a sub-module that does not receive
        # it leaves the add to the block, so it is read where the
        # sub-block's norm reads it.
        needs_residual = bool(self.post) or any(
            a.parallel_reads == 'residual' for a in self.parallel)
        self.residual_from_norm = needs_residual and not spec.residual_kwarg
        self._inputs = None
        self._residual = None
        self._armed = False

    def attach(self) -> None:
        if self.residual_from_norm:
            self.norm.register_forward_pre_hook(self.before_norm)
        self.module.register_forward_pre_hook(self.before, with_kwargs=True)
        if self.spec.drop_path_inside:
            self.module.register_forward_hook(self.after, with_kwargs=True)
        else:
            self.module.register_forward_hook(self.arm)
            self.drop_path.register_forward_hook(self.after_drop_path)

    def before_norm(self, norm, args):
        self._residual = args[0]

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

    def arm(self, module, args, output):
        # The block's next drop-path call is on this sub-module's branch
        # (a drop-path shared by both sub-blocks serves the other one too).
        self._armed = True

    def after_drop_path(self, drop_path, args, output):
        if not self._armed:
            return None
        # Disarmed first: a parallel adapter's delta goes through this same
        # drop-path module below.
        self._armed = False
        return self.adapt(output)

    def after(self, module, args, kwargs, output):
        return self.adapt(output)

    def adapt(self, output):
        """``output``: the drop-pathed branch, plus the residual when the
        sub-module adds it."""
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
        if self.post:
            stream = (output if self.spec.residual_kwarg else
                      self._residual + output)
            for adapter in self.post:
                delta = adapter(stream, hw_shape, prefix)
                stream = stream + delta
                output = output + delta
        self._inputs = self._residual = None
        return output


class LinearAdapters:
    """A forward hook adding the deltas of Linear adapters to the output of
    one Linear layer, each to its slice (``adapter.host``)."""

    def __init__(self, adapters: Sequence[nn.Module]):
        self.adapters = list(adapters)
        self.slices = adapters[0].host.count

    def attach(self, linear: nn.Module) -> None:
        linear.register_forward_hook(self.after)

    def after(self, linear, args, output):
        x = args[0]
        if self.slices == 1:
            for adapter in self.adapters:
                output = output + adapter(x)
            return output
        # One concatenation for all slices, instead of one padded full-width
        # delta per adapter.
        parts = list(output.chunk(self.slices, dim=-1))
        for adapter in self.adapters:
            index = adapter.host.index
            parts[index] = parts[index] + adapter(x)
        return torch.cat(parts, dim=-1)


class BlockPrompts:
    """Hooks on a block that insert a prompt adapter's tokens after the
    prefix tokens of its input and remove them from its output."""

    def __init__(self, adapter: nn.Module, grid: TokenGrid):
        self.adapter = adapter
        self.grid = grid

    def attach(self, block: nn.Module) -> None:
        block.register_forward_pre_hook(self.before)
        block.register_forward_hook(self.after)

    def before(self, block, args):
        tokens = self.adapter.insert(args[0], self.grid.num_prefix_tokens)
        return (tokens, *args[1:])

    def after(self, block, args, output):
        return self.adapter.remove(output, self.grid.num_prefix_tokens)


def check_placement(adapter_type: type, position: str, spec: BlockSpec,
                    family: str) -> None:
    """Fail early for a placement this block family cannot provide."""
    reason = spec.why_not(position)
    if reason is None:
        return
    key = f'adapter.{adapter_type.position_key}={position!r}'
    kind = POSITION_KINDS[position]
    if kind == 'linear':
        role = LINEAR_POSITIONS[position]
        what = (f'{adapter_type.__name__} adds to the output of the '
                f'attention\'s {role!r} nn.Linear')
    elif kind == 'block':
        key = f'adapter.type={adapter_type.__name__!r}'
        what = 'its prompt tokens join the token sequence of every block'
    else:
        what = f'{adapter_type.__name__} cannot sit there'
    raise ValueError(f'{key}: {what}, which {family} blocks cannot '
                     f'provide: {reason}')


def _inject_token_adapters(block: nn.Module, spec: BlockSpec,
                           adapters: Dict[str, nn.Module],
                           grid: TokenGrid) -> None:
    if spec.grid_arg is not None:
        grid.index = spec.grid_arg
        getattr(block, spec.attn.module).register_forward_pre_hook(
            grid.from_args)
    for sub in SUB_BLOCKS:
        placed = {mode: [] for mode in MODES}
        for position, adapter in adapters.items():
            if position.startswith(sub + '_'):
                placed[position.split('_')[1]].append(adapter)
        if any(placed.values()):
            SubBlockAdapters(spec.sub_block(sub), block, grid,
                             placed).attach()


def _inject_linear_adapters(block: nn.Module, spec: BlockSpec,
                            adapters: Dict[str, nn.Module]) -> None:
    by_linear: Dict[str, List[nn.Module]] = {}
    for position, adapter in adapters.items():
        role = spec.attn.linears[LINEAR_POSITIONS[position]]
        path = f'{spec.attn.module}.{role.path}'
        # The adapter keeps where it adds, so that it can be merged into
        # that weight (mmpeft.adapters.lora.merge_lora).
        adapter.host = LinearSlice(path, role.index, role.count)
        by_linear.setdefault(path, []).append(adapter)
    for path, placed in by_linear.items():
        LinearAdapters(placed).attach(block.get_submodule(path))


def inject_block(block: nn.Module, spec: BlockSpec,
                 adapters: Dict[str, nn.Module], grid: TokenGrid) -> None:
    """Register ``adapters`` (position -> module) in ``block`` and hook them
    into its modules. ``grid`` supplies (H, W) and the prefix count."""
    block.add_module(ADAPTERS_ATTR, nn.ModuleDict(adapters))
    by_kind = {kind: {} for kind in ('sub_block', 'linear', 'block')}
    for position, adapter in adapters.items():
        by_kind[POSITION_KINDS[position]][position] = adapter
    if by_kind['sub_block']:
        _inject_token_adapters(block, spec, by_kind['sub_block'], grid)
    if by_kind['linear']:
        _inject_linear_adapters(block, spec, by_kind['linear'])
    for adapter in by_kind['block'].values():
        BlockPrompts(adapter, grid).attach(block)


def adapter_param_names(module: nn.Module) -> List[str]:
    return [n for n, _ in module.named_parameters() if is_adapter_key(n)]
