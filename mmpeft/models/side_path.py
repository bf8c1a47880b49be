"""The side path of gradient-bypass adapters (E3VA, ``attaches_to='side'``)
in a hierarchical backbone (Swin).

The frozen stream x of the backbone is left as it is. Hooks follow it
through one forward and keep a delta h beside it (the highway):

* entering a block, h is the delta of the block's input (None before the
  first adapter);
* the block's adapters read its attention and MLP branch outputs, detached,
  and add their outputs to h;
* a patch merging M turns h into M(x + h) - M(x), the delta of its output
  (M is the backbone's own, called once more on the adapted stream);
* a stage's output norm reads x + h instead of x; its output is what the
  decoder sees.

Deltas are matched to stream tensors by identity (the tensor object a block
returns is the one the next block, the merging and the norm receive), so
the hooks need no knowledge of the order in which the three Swin
implementations call their stages, mergings and norms. Since x never
depends on h, backward never enters the blocks. Hooks are bound methods of
one :class:`SidePath` per backbone, so a deep copy of the model (EMA) keeps
its own path.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..adapters import ADAPTERS
from ..adapters.base import ADAPTERS_ATTR
from .builder import _check_options, build_block_adapters

# source -> the module of a Swin block whose output the adapter reads.
SOURCES = {'attn': 'attn', 'mlp': 'ffn.layers'}


def is_side_adapter(adapter_cfg) -> bool:
    """Whether ``adapter_cfg`` names an adapter of the side-path kind."""
    if not isinstance(adapter_cfg, dict):
        return False
    cls = ADAPTERS.get(adapter_cfg.get('type'))
    return getattr(cls, 'attaches_to', None) == 'side'


def parse_side_cfg(cfg: dict):
    """(adapter class, sources, options) of a side adapter's config."""
    cls = ADAPTERS.get(cfg['type'])
    key = cls.position_key
    options = {k: v for k, v in cfg.items() if k not in ('type', key)}
    _check_options(cls, options)
    sources = cfg.get(key, cls.default_position)
    sources = (sources, ) if isinstance(sources, str) else tuple(sources)
    unknown = [s for s in sources if s not in SOURCES]
    if not sources or unknown or len(set(sources)) != len(sources):
        raise ValueError(f'adapter.{key}={cfg.get(key)!r}: give distinct '
                         f'sources out of {sorted(SOURCES)}')
    return cls, sources, options


def output_norms(backbone: nn.Module) -> Dict[int, nn.Module]:
    """stage index -> the norm the backbone applies to that stage's
    output (Swin: ``norm{i}`` for the stages in ``out_indices``)."""
    return {
        i: getattr(backbone, f'norm{i}')
        for i in range(len(backbone.stages))
        if isinstance(getattr(backbone, f'norm{i}', None), nn.Module)
    }


def check_side_host(backbone: nn.Module, cls: type) -> None:
    stages = getattr(backbone, 'stages', None)
    if (stages is None or not all(hasattr(s, 'downsample') for s in stages)
            or not output_norms(backbone)):
        raise ValueError(
            f'adapter.type={cls.__name__!r}: its side path joins the '
            f'decoder through the per-stage output norms (norm0..norm3) of '
            f'a hierarchical backbone; {type(backbone).__name__} has none '
            f'(its blocks feed each other directly, so the path would have '
            f'no way out that bypasses the backbone): use '
            f'PEFTSwinTransformer')


def check_reaches_an_output(backbone, stages_blocks, selected) -> None:
    """A side adapter after the last output norm would never be used (and
    DDP would fail on its parameters)."""
    last = max(output_norms(backbone))
    late = [i for i in selected if stages_blocks[i][0] > last]
    if late:
        raise ValueError(
            f'adapter_blocks: block {late[0]} lies in stage '
            f'{stages_blocks[late[0]][0]}, after the last stage output '
            f'(stage {last}, out_indices); its side adapters would reach no '
            f'output')


class SideFeed:
    """A forward hook feeding one adapter the detached output of the
    module it reads (a callable object, so that deep copies keep theirs)."""

    def __init__(self, path: 'SidePath', adapter: nn.Module):
        self.path = path
        self.adapter = adapter

    def hook(self, module, args, output):
        # Not while activation checkpointing recomputes the block during
        # backward: the highway was built in the forward.
        if not self.path.in_block:
            return
        # Reentrant checkpointing (with_cp) runs the block's forward without
        # grad; the adapter, fed a detached input, builds its own graph when
        # the backbone's forward was called with grad.
        with torch.set_grad_enabled(self.path.grad_enabled):
            self.path.add(self.adapter(output.detach(), self.path.hw_shape))


class SidePath:
    """The highway of one backbone during a forward (see module doc)."""

    def __init__(self):
        self.deltas: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}
        self.current: Optional[torch.Tensor] = None
        self.hw_shape = None
        self.in_block = False
        self.grad_enabled = True

    def reset(self, *args):
        self.deltas.clear()
        self.current = None
        self.in_block = False
        self.grad_enabled = torch.is_grad_enabled()

    def finish(self, module, args, output):
        self.reset()

    def delta_of(self, x) -> Optional[torch.Tensor]:
        entry = self.deltas.get(id(x))
        return entry[1] if entry is not None and entry[0] is x else None

    def enter_block(self, block, args):
        x = args[0]
        self.current = self.delta_of(x)
        self.deltas.pop(id(x), None)  # no one else reads a block's input
        self.hw_shape = tuple(args[1])
        self.in_block = True

    def add(self, delta: torch.Tensor) -> None:
        self.current = delta if self.current is None else self.current + delta

    def leave_block(self, block, args, output):
        self.in_block = False
        if self.current is not None:
            self.deltas[id(output)] = (output, self.current)
        self.current = None

    def downsample(self, merging, args, output):
        x, hw_shape = args[0], args[1]
        delta = self.delta_of(x)
        if delta is None:
            return
        x_down = output[0]
        adapted = merging.forward(x + delta, hw_shape)[0]  # no hooks again
        self.deltas[id(x_down)] = (x_down, adapted - x_down)

    def merge(self, norm, args):
        delta = self.delta_of(args[0])
        if delta is None:
            return None
        return (args[0] + delta, ) + tuple(args[1:])


def inject_side_path(backbone: nn.Module, adapter_cfg: dict,
                     selected) -> None:
    """Side adapters in the blocks ``selected`` (global indices) of
    ``backbone`` and the hooks of its :class:`SidePath`."""
    cls, sources, options = parse_side_cfg(adapter_cfg)
    check_side_host(backbone, cls)
    stages_blocks = backbone.peft_spec.blocks(backbone)
    check_reaches_an_output(backbone, stages_blocks, selected)
    path = SidePath()
    backbone.register_forward_pre_hook(path.reset)
    backbone.register_forward_hook(path.finish)
    for index, (_, block) in enumerate(stages_blocks):
        # Every block passes the delta on, with adapters or not.
        block.register_forward_pre_hook(path.enter_block)
        block.register_forward_hook(path.leave_block)
        if index not in selected:
            continue
        embed_dims = block.norm1.normalized_shape[-1]
        adapters = build_block_adapters(
            cls, [f'side_{s}' for s in sources], options, embed_dims)
        block.add_module(ADAPTERS_ATTR, nn.ModuleDict(adapters))
        for source in sources:
            feed = SideFeed(path, adapters[f'side_{source}'])
            block.get_submodule(SOURCES[source]).register_forward_hook(
                feed.hook)
    for stage in backbone.stages:
        if stage.downsample is not None:
            stage.downsample.register_forward_hook(path.downsample)
    for norm in output_norms(backbone).values():
        norm.register_forward_pre_hook(path.merge)
