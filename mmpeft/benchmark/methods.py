"""Method names of the benchmark.

    full | floor | head (alias frozen) | <adapter>     the row's base
    @lastN | @all                                     adapters' blocks
    +bf16                                             frozen weights in bf16
    +cp                                               activation checkpointing

e.g. 'adaptformer', 'adaptformer@last12', 'iconformer+bf16', 'full+cp',
'e3va'. The suffixes combine ('adaptformer@last12+bf16+cp').
"""
import re

BASE_METHODS = ('full', 'floor', 'head')
ALIASES = {'frozen': 'head'}
# '+<option>' -> the wrapper keyword it sets.
OPTIONS = {'bf16': ('frozen_dtype', 'bf16'), 'cp': ('with_cp', True)}
DEFAULT_METHODS = 'full,floor,head,adaptformer,convpass,iconformer'


def adapter_types() -> dict:
    """lower-case name -> registered adapter type."""
    from mmpeft.adapters import ADAPTERS
    return {name.lower(): name for name in ADAPTERS.module_dict}


def _parse_options(name: str, suffixes) -> dict:
    options = {}
    for suffix in suffixes:
        if suffix not in OPTIONS:
            raise ValueError(f'method {name!r}: unknown option +{suffix}; '
                             f'allowed: {["+" + s for s in OPTIONS]}')
        key, value = OPTIONS[suffix]
        options[key] = value
    return options


def _parse_blocks(name: str, where: str):
    if not where or where == 'all':
        return 'all'
    match = re.fullmatch(r'last(\d+)', where)
    if not match:
        raise ValueError(f"method {name!r}: use '@lastN' or '@all'")
    return dict(last=int(match.group(1)))


def parse_method(name: str) -> dict:
    """'full' | 'floor' | 'head' | '<adapter>[@lastN|@all]', each with
    optional '+bf16' / '+cp' suffixes."""
    head, *suffixes = name.strip().split('+')
    base, _, where = head.partition('@')
    base = ALIASES.get(base.lower(), base.lower())
    options = _parse_options(name, suffixes)
    if base in BASE_METHODS:
        if where:
            raise ValueError(f'method {name!r}: @{where} applies to adapter '
                             f'methods only')
        if base == 'full' and 'frozen_dtype' in options:
            raise ValueError(f'method {name!r}: full fine-tuning has no '
                             f'frozen weight to store in bf16')
        return dict(name=name, kind=base, **options)
    types = adapter_types()
    if base not in types:
        raise ValueError(f'unknown method {name!r}; choose from '
                         f'{list(BASE_METHODS) + sorted(types)}, optionally '
                         f"with '@lastN' and {['+' + s for s in OPTIONS]}")
    return dict(name=name, kind='adapter', adapter=types[base],
                adapter_blocks=_parse_blocks(name, where), **options)


def method_names(text: str) -> list:
    """The comma-separated list, each name checked before any measurement."""
    names = [n.strip() for n in text.split(',') if n.strip()]
    for name in names:
        parse_method(name)
    return names
