"""The mixin that turns an upstream Transformer backbone into a PEFT one.

``PEFTBackboneMixin`` is combined with an upstream backbone class (see
``registered.py``); it builds the upstream model unchanged, attaches
adapters through :mod:`mmpeft.models.injection`, and decides at
construction, before any distributed wrapper exists, what trains:

    tuning='peft'     adapters + ``extra_trainable`` patterns (default)
    tuning='bitfit'   + every bias of the backbone (BitFit)
    tuning='norm'     + every norm layer's weight and bias (LN-tune)
    tuning='partial'  + the last ``partial_blocks`` blocks (Partial-k)
    tuning='full'     full fine-tuning: the upstream flags, nothing frozen
    tuning='frozen'   nothing in the backbone trains (a head-only baseline)

The three selective modes train their selection on top of the adapters (if
any) and the ``extra_trainable`` patterns, like 'peft'.
"""
import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.utils.dl_utils import is_norm

from ...adapters.base import is_adapter_key
from ...checkpoint.state import describe_base
from ..builder import build_block_adapters, parse_adapter_cfg
from ..frozen_dtype import (check_frozen_dtype, forward_in_frozen_dtype,
                            store_frozen)
from ..injection import (BlockSpec, TokenGrid, adapter_param_names,
                         check_placement, inject_block)
from ..pretrained import upstream_reads_pretrained
from ..side_path import inject_side_path, is_side_adapter

# Modes that train a selection of the backbone (next to the adapters).
SELECTIVE_MODES = ('peft', 'bitfit', 'norm', 'partial')
TUNING_MODES = SELECTIVE_MODES + ('full', 'frozen')
# The keyword arguments the mixin adds to the upstream backbone's own.
WRAPPER_OPTIONS = ('adapter', 'adapter_blocks', 'extra_trainable', 'tuning',
                   'partial_blocks', 'frozen_dtype')


@dataclass(frozen=True)
class BackboneSpec:
    """How a backbone family exposes its blocks.

    Attributes:
        block: the layout of one block.
        blocks: model -> [(stage index, block)] in global block order; the
            stage index is what ``frozen_stages`` counts.
        num_prefix_tokens: model -> tokens in front of the grid (class token).
        patch_embed: attribute whose output ``(tokens, hw_shape)`` gives the
            grid when blocks do not receive it (ViT); None otherwise.
        freezes_from: the smallest ``frozen_stages`` for which upstream
            calls ``_freeze_stages`` (Swin: 0 freezes the patch embedding;
            mmpretrain's ViT: only from 1, since its ``_freeze_stages``
            always freezes the embeddings).
        attention: how ``mmpeft.analysis.attention_rollout`` recomputes the
            attention of a block (one of its ``ATTENTION_KINDS``); None when
            it cannot, with the reason in ``no_rollout``.
        no_rollout: why attention rollout is not available.
        pretrained_prefixes: the key prefixes upstream's ``init_weights``
            reads from a pretrained file (mmdet's Swin: only
            ``'backbone.'``); None: mmengine's ``PretrainedInit``, which
            reads the ``prefix`` of the ``init_cfg`` ('' when unset). See
            :mod:`mmpeft.models.pretrained`.
        converts_pretrained: the upstream option that, when true, makes
            ``init_weights`` convert the keys of an official release itself
            (mmdet's Swin: ``convert_weights``); the file then goes to it
            as it is.
    """
    block: BlockSpec
    blocks: Callable[[nn.Module], List[Tuple[int, nn.Module]]]
    num_prefix_tokens: Callable[[nn.Module], int] = lambda model: 0
    patch_embed: Union[str, None] = None
    freezes_from: int = 0
    attention: Optional[str] = None
    no_rollout: str = ''
    pretrained_prefixes: Optional[Tuple[str, ...]] = None
    converts_pretrained: Optional[str] = None


def select_blocks(adapter_blocks, num_blocks: int) -> List[int]:
    """'all', a list of global block indices, or dict(last=N)."""
    if adapter_blocks == 'all':
        return list(range(num_blocks))
    if isinstance(adapter_blocks, dict):
        if set(adapter_blocks) != {'last'}:
            raise KeyError(f'adapter_blocks: a dict takes only the key '
                           f"'last', got {sorted(adapter_blocks)}")
        last = adapter_blocks['last']
        if not isinstance(last, int) or not 1 <= last <= num_blocks:
            raise ValueError(f'adapter_blocks.last must be in [1, '
                             f'{num_blocks}], got {last!r}')
        return list(range(num_blocks - last, num_blocks))
    if isinstance(adapter_blocks, (list, tuple)):
        for index in adapter_blocks:
            if not isinstance(index, int) or not 0 <= index < num_blocks:
                raise IndexError(
                    f'adapter_blocks: block index {index!r} is out of range; '
                    f'this backbone has blocks 0..{num_blocks - 1}')
        if len(set(adapter_blocks)) != len(adapter_blocks):
            raise ValueError(f'adapter_blocks: {adapter_blocks} repeats a '
                             f'block')
        return sorted(adapter_blocks)
    raise TypeError(f"adapter_blocks must be 'all', a list of block indices "
                    f'or dict(last=N), got {adapter_blocks!r}')


def count(params) -> int:
    return sum(p.numel() for p in params)


class PEFTBackboneMixin:
    """Adapters, freezing and a parameter report for an upstream backbone.

    Args (on top of the upstream backbone's own):
        adapter (dict, optional): ``dict(type=..., position=..., **options)``
            of a registered adapter.
        adapter_blocks: 'all' (default), a list of global block indices, or
            ``dict(last=N)``. 'all' skips blocks in ``frozen_stages``.
        extra_trainable (Sequence[str]): regular expressions; backbone
            parameters whose name matches one also train (e.g. 'norm').
        tuning (str): one of ``TUNING_MODES`` (see module docstring).
        partial_blocks (int, optional): k of ``tuning='partial'``: the last
            k blocks (in global block order) train.
        frozen_dtype (str, optional): 'bf16' stores the frozen weights in
            bfloat16 and runs the backbone under bfloat16 autocast
            (``mmpeft.models.frozen_dtype``).
    """
    peft_spec: BackboneSpec = None

    def __init__(self,
                 *args,
                 adapter: Union[dict, None] = None,
                 adapter_blocks='all',
                 extra_trainable: Sequence[str] = (),
                 tuning: str = 'peft',
                 partial_blocks: Optional[int] = None,
                 frozen_dtype: Optional[str] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self._check_tuning(tuning, adapter, extra_trainable)
        self._check_partial_blocks(tuning, partial_blocks)
        check_frozen_dtype(frozen_dtype, tuning)
        self.frozen_dtype = frozen_dtype
        self.tuning = tuning
        self.partial_blocks = partial_blocks
        if adapter is not None:
            self._inject(adapter, adapter_blocks)
        elif adapter_blocks != 'all':
            raise ValueError('adapter_blocks is set but no adapter is '
                             'configured')
        self._set_trainable(extra_trainable)
        if frozen_dtype is not None:
            store_frozen(self, frozen_dtype)
        # Which base weights init_weights() loaded (source and sha256), for
        # adapter-only checkpoints to check against.
        self.base_weights = dict(checkpoint=None, sha256=None)
        self.base_loaded = False
        print_log(self.peft_report_table(), logger='current')

    @staticmethod
    def _check_tuning(tuning, adapter, extra_trainable) -> None:
        if tuning not in TUNING_MODES:
            raise ValueError(f'tuning: unknown mode {tuning!r}; allowed: '
                             f'{list(TUNING_MODES)}')
        if tuning == 'frozen' and adapter is not None:
            raise ValueError("tuning='frozen' trains nothing in the "
                             'backbone: remove the adapter or use '
                             "tuning='peft'")
        if tuning not in SELECTIVE_MODES and extra_trainable:
            raise ValueError(f'extra_trainable only applies to tuning in '
                             f'{list(SELECTIVE_MODES)}, not {tuning!r}')
        if tuning == 'peft' and adapter is None and not extra_trainable:
            raise ValueError("tuning='peft' with no adapter and no "
                             'extra_trainable trains nothing in the backbone;'
                             " set an adapter, or tuning='frozen' for the "
                             'frozen baseline')

    def _check_partial_blocks(self, tuning, partial_blocks) -> None:
        if tuning != 'partial':
            if partial_blocks is not None:
                raise ValueError(f"partial_blocks only applies to "
                                 f"tuning='partial', not {tuning!r}")
            return
        num_blocks = len(self.peft_spec.blocks(self))
        if (not isinstance(partial_blocks, int)
                or isinstance(partial_blocks, bool)
                or not 1 <= partial_blocks <= num_blocks):
            raise ValueError(
                f"tuning='partial' needs partial_blocks, the number of last "
                f'blocks to train: an integer in [1, {num_blocks}], got '
                f'{partial_blocks!r}')

    def _inject(self, adapter_cfg: dict, adapter_blocks) -> None:
        if is_side_adapter(adapter_cfg):  # E3VA: beside the blocks, not in
            selected = select_blocks(adapter_blocks,
                                     len(self.peft_spec.blocks(self)))
            inject_side_path(self, adapter_cfg, selected)
            return
        spec = self.peft_spec
        family = type(self).__name__
        cls, positions, options = parse_adapter_cfg(adapter_cfg)
        for position in positions:
            check_placement(cls, position, spec.block, family)
        blocks = spec.blocks(self)
        frozen_stages = getattr(self, 'frozen_stages', -1)
        selected = select_blocks(adapter_blocks, len(blocks))
        if adapter_blocks == 'all':
            selected = [i for i in selected if blocks[i][0] >= frozen_stages]
        for index in selected:
            if blocks[index][0] < frozen_stages:
                raise ValueError(
                    f'adapter_blocks: block {index} lies in stage '
                    f'{blocks[index][0]}, which frozen_stages='
                    f'{frozen_stages} freezes')
        shared_grid = None
        if spec.patch_embed is not None:
            shared_grid = TokenGrid(spec.num_prefix_tokens(self))
            getattr(self, spec.patch_embed).register_forward_hook(
                shared_grid.from_output)
        for index in selected:
            block = blocks[index][1]
            adapters = build_block_adapters(cls, positions, options,
                                            spec.block.embed_dims(block))
            grid = shared_grid or TokenGrid(spec.num_prefix_tokens(self))
            inject_block(block, spec.block, adapters, grid)

    def _selected_by_mode(self) -> List[nn.Parameter]:
        """The backbone parameters the tuning mode trains (adapters apart)."""
        if self.tuning == 'bitfit':
            return [p for n, p in self.named_parameters()
                    if n.rsplit('.', 1)[-1] == 'bias']
        if self.tuning == 'norm':
            return [p for m in self.modules() if is_norm(m)
                    for p in m.parameters(recurse=False)]
        if self.tuning == 'partial':
            last = self.peft_spec.blocks(self)[-self.partial_blocks:]
            return [p for _, block in last for p in block.parameters()]
        return []

    def _set_trainable(self, patterns: Sequence[str]) -> None:
        if self.tuning != 'full':
            adapter_names = set(adapter_param_names(self))
            selected = {id(p) for p in self._selected_by_mode()}
            compiled = [re.compile(p) for p in patterns]
            matched = {p.pattern: False for p in compiled}
            for name, param in self.named_parameters():
                hits = [p.pattern for p in compiled if p.search(name)]
                for hit in hits:
                    matched[hit] = True
                param.requires_grad = (name in adapter_names
                                       or id(param) in selected
                                       or bool(hits))
            unmatched = [p for p, hit in matched.items() if not hit]
            if unmatched:
                raise ValueError(f'extra_trainable: {unmatched} match no '
                                 f'parameter of {type(self).__name__}')
        # Upstream Swin applies frozen_stages in train(), after DDP has
        # wrapped the model; DDP rejects flags that change then, so apply
        # them now, from the value at which upstream freezes anything.
        frozen_stages = getattr(self, 'frozen_stages', -1)
        if (hasattr(self, '_freeze_stages')
                and frozen_stages >= self.peft_spec.freezes_from):
            self._freeze_stages()

    def init_weights(self) -> None:
        """Upstream init (pretrained or not), with the adapters untouched.

        Upstream init re-initialises layers by type (every nn.Linear in
        mmseg's Swin, every Conv2d in mmpretrain's ViT), adapters included.
        """
        adapter_names = set(adapter_param_names(self))
        saved = {
            name: param.detach().clone()
            for name, param in self.named_parameters()
            if name in adapter_names
        }
        with upstream_reads_pretrained(self, self._pretrained_prefixes(),
                                       self._base_weight_names()):
            super().init_weights()
        for name, param in self.named_parameters():
            if name in saved:
                param.data.copy_(saved[name])
        self.base_weights = describe_base(self.init_cfg)
        self.base_loaded = True

    def _pretrained_prefixes(self) -> Tuple[str, ...]:
        """The key prefixes upstream's loader reads (see BackboneSpec); ()
        when upstream converts an official release's keys itself."""
        spec = self.peft_spec
        if spec.converts_pretrained and getattr(self,
                                                spec.converts_pretrained):
            return ()
        if spec.pretrained_prefixes is not None:
            return spec.pretrained_prefixes
        prefix = (self.init_cfg or {}).get('prefix') or ''
        # mmengine appends the dot to a prefix given without one.
        return (prefix if not prefix or prefix.endswith('.') else
                prefix + '.', )

    def _base_weight_names(self) -> List[str]:
        return [k for k in self.state_dict() if not is_adapter_key(k)]

    def forward(self, *args, **kwargs):
        if self.frozen_dtype is None:
            return super().forward(*args, **kwargs)
        return forward_in_frozen_dtype(super().forward, self.frozen_dtype,
                                       *args, **kwargs)

    def train(self, mode: bool = True):
        # mmpretrain's ViT returns None from train(); keep chaining working.
        super().train(mode)
        return self

    def peft_report(self) -> dict:
        """Parameter counts of this backbone, adapters kept apart."""
        adapter_names = set(adapter_param_names(self))
        named = list(self.named_parameters())
        adapters = [p for n, p in named if n in adapter_names]
        others = [p for n, p in named if n not in adapter_names]
        backbone = count(others)
        adapter = count(adapters)
        return dict(
            backbone_params=backbone,
            adapter_params=adapter,
            adapter_percent=100.0 * adapter / backbone if backbone else 0.0,
            adapter_trainable=count(p for p in adapters if p.requires_grad),
            backbone_other_trainable=count(p for p in others
                                           if p.requires_grad),
        )

    def peft_report_table(self) -> str:
        r = self.peft_report()
        rows = [
            ('backbone parameters (no adapters)', f"{r['backbone_params']:,}"),
            ('adapter parameters', f"{r['adapter_params']:,}"),
            ('adapters, % of backbone', f"{r['adapter_percent']:.3f}%"),
            ('trainable adapter parameters', f"{r['adapter_trainable']:,}"),
            ('trainable other backbone parameters',
             f"{r['backbone_other_trainable']:,}"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f'{type(self).__name__} (tuning={self.tuning!r})']
        lines += [f'  {k:<{width}}  {v:>14}' for k, v in rows]
        return '\n'.join(lines)
