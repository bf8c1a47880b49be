"""Turn an ``adapter=dict(...)`` config into adapter modules, with errors
that name the offending key."""
import difflib
import inspect
from typing import Dict, Tuple

import torch.nn as nn

from ..adapters import ADAPTERS
from .injection import resolve_position


def _adapter_class(cfg: dict) -> type:
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise KeyError(f"adapter: a dict with a 'type' key is needed, got "
                       f'{cfg!r}; registered types: {registered_adapters()}')
    cls = ADAPTERS.get(cfg['type'])
    if cls is None:
        raise KeyError(f"adapter.type: unknown adapter {cfg['type']!r}; "
                       f'registered: {registered_adapters()}')
    return cls


def registered_adapters():
    return sorted(ADAPTERS.module_dict)


def _options(cls: type) -> Dict[str, inspect.Parameter]:
    params = inspect.signature(cls.__init__).parameters
    return {
        name: p
        for name, p in params.items() if name not in ('self', 'embed_dims')
    }


def _check_options(cls: type, options: dict) -> None:
    allowed = _options(cls)
    for key in options:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f' (did you mean {close[0]!r}?)' if close else ''
            raise KeyError(
                f'adapter.{key}: not an option of {cls.__name__}{hint}; '
                f"allowed: {sorted(allowed) + [cls.position_key, 'type']}")


# Widths an adapter cannot have below 1 or (for a bottleneck or a rank)
# above the channels of the block it adapts.
NARROWER_THAN_BLOCK = ('bottleneck', 'rank')
POSITIVE_INTS = NARROWER_THAN_BLOCK + ('num_tokens', )


def _check_widths(cls: type, options: dict, embed_dims: int) -> None:
    params = _options(cls)
    for name in POSITIVE_INTS:
        if name not in params:
            continue
        value = options.get(name, params[name].default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f'adapter.{name} must be an integer >= 1, '
                             f'got {value!r}')
        if name in NARROWER_THAN_BLOCK and value > embed_dims:
            raise ValueError(
                f'adapter.{name}={value} is wider than the {embed_dims} '
                f'channels of the block it adapts; choose a value <= '
                f'{embed_dims}')


def parse_adapter_cfg(cfg: dict) -> Tuple[type, Tuple[str, ...], dict]:
    """Split a config into (adapter class, positions, module options)."""
    cls = _adapter_class(cfg)
    key = cls.position_key
    options = {k: v for k, v in cfg.items() if k not in ('type', key)}
    _check_options(cls, options)
    position = cfg.get(key, cls.default_position)
    positions = (position, ) if isinstance(position, str) else tuple(position)
    if not positions:
        raise ValueError(f'adapter.{key}: give at least one position')
    positions = tuple(
        resolve_position(p, cls.attaches_to, key) for p in positions)
    if len(set(positions)) != len(positions):
        raise ValueError(f'adapter.{key}: {positions} repeats a position')
    return cls, positions, options


def build_block_adapters(cls: type, positions, options: dict,
                         embed_dims: int) -> Dict[str, nn.Module]:
    """One adapter module per position for a block of ``embed_dims``."""
    _check_widths(cls, options, embed_dims)
    return {p: cls(embed_dims, **options) for p in positions}
