"""Checkpoints as ``.safetensors``: the tensors, and the checkpoint's meta in
the file's header, read without unpickling (nothing in the file can run
code, so no allowlist is involved).

The header's metadata holds strings only; mmpeft writes:

    format          'pt' (what other safetensors readers expect)
    mmpeft_version  the mmpeft version that wrote the file
    mmpeft_meta     the checkpoint's ``meta`` as JSON: ``peft`` (adapter_only,
                    base = {checkpoint, sha256}, trained_backbone_keys) and
                    whatever else it holds (mmengine's dataset_meta, ...)
    mmpeft_keys     JSON list of every tensor written, so that a tensor
                    missing from the file is an error, not a silent
                    partial load

Reading gives ``dict(state_dict=tensors, meta=meta)``, the shape of a
``.pth`` checkpoint, so every loader takes either: ``load_checkpoint_file``
(mmpeft.apis, export), and, through the mmengine checkpoint backend
registered here for local paths ending in ``.safetensors``, ``load_from``,
``tools/test.py CONFIG X.safetensors`` and ``init_cfg``. A file without the
mmpeft entries loads as a plain state dict. Tensors load on the CPU.
"""
import json
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from safetensors import safe_open
from safetensors.torch import save

from ..version import __version__
from .files import CheckpointError, atomic_write

SUFFIX = '.safetensors'
META_ENTRY, KEYS_ENTRY, VERSION_ENTRY = ('mmpeft_meta', 'mmpeft_keys',
                                         'mmpeft_version')


def is_safetensors(path) -> bool:
    return str(path).endswith(SUFFIX)


def _json_value(value):
    """numpy scalars and arrays (in mmengine's meta) as Python values."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    raise TypeError(f'{type(value).__name__} is not JSON serialisable')


def header_metadata(meta: dict, keys: Iterable[str]) -> Dict[str, str]:
    for key, value in meta.items():
        try:
            json.dumps(value, default=_json_value)
        except (TypeError, ValueError) as error:
            raise ValueError(f'meta[{key!r}] cannot go into a safetensors '
                             f'header as JSON: {error}') from None
    return {
        'format': 'pt',
        VERSION_ENTRY: __version__,
        META_ENTRY: json.dumps(meta, default=_json_value),
        KEYS_ENTRY: json.dumps(sorted(keys)),
    }


def save_safetensors(state_dict: Dict[str, torch.Tensor], meta: dict,
                     path: str) -> None:
    """Write ``state_dict`` and ``meta`` to ``path`` (atomically)."""
    if not is_safetensors(path):
        raise ValueError(f'{path}: a safetensors file must end in {SUFFIX} '
                         f'(the loaders recognise it by the suffix)')
    tensors = {}
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'{path}: state_dict[{key!r}] is a '
                            f'{type(value).__name__}; safetensors holds '
                            f'tensors only')
        # A copy of its own: safetensors refuses tensors sharing memory.
        tensors[key] = value.detach().cpu().clone().contiguous()
    payload = save(tensors, metadata=header_metadata(meta, tensors))
    atomic_write(path, lambda f: f.write(payload))


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'


def _decode(path: str, header: Dict[str, str], entry: str, kind: type):
    try:
        value = json.loads(header[entry])
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f'{path}: header entry {entry!r} is not valid JSON ({error}); '
            f'the header was edited or damaged') from None
    if not isinstance(value, kind):
        raise CheckpointError(f'{path}: header entry {entry!r} should be a '
                              f'JSON {kind.__name__}, not '
                              f'{type(value).__name__}')
    return value


def _check_tensors(path: str, listed: Iterable[str], meta: dict,
                   present: Iterable[str]) -> None:
    """The tensors must be those the writer listed (and the trained keys
    of meta['peft'] among them)."""
    expected = set(listed)
    expected.update(meta.get('peft', {}).get('trained_backbone_keys', ()))
    present = set(present)
    missing, unexpected = sorted(expected - present), sorted(present -
                                                             expected)
    if missing:
        raise CheckpointError(
            f'{path}: {len(missing)} tensor(s) named in its header are '
            f'missing from the file: {", ".join(missing[:4])}'
            f'{", ..." if len(missing) > 4 else ""}')
    if unexpected:
        raise CheckpointError(
            f'{path}: {len(unexpected)} tensor(s) in the file are not named '
            f'in its header: {", ".join(unexpected[:4])}'
            f'{", ..." if len(unexpected) > 4 else ""}')


def load_safetensors(path: str) -> dict:
    """``dict(state_dict=..., meta=...)`` from a .safetensors file; a file
    that cannot be used is a one-line :class:`CheckpointError` naming it."""
    if not osp.isfile(path):
        raise CheckpointError(f'{path}: no such checkpoint file')
    try:
        with safe_open(path, framework='pt', device='cpu') as f:
            header = f.metadata() or {}
            state = OrderedDict((key, f.get_tensor(key)) for key in f.keys())
    except Exception as error:  # safetensors' own error for a bad header
        raise CheckpointError(
            f'{path}: not a readable safetensors file, its header or tensor '
            f'data is damaged ({_one_line(error)})') from None
    if META_ENTRY not in header:
        return dict(state_dict=state, meta={})
    meta = _decode(path, header, META_ENTRY, dict)
    if KEYS_ENTRY not in header:
        raise CheckpointError(f'{path}: the header has {META_ENTRY!r} but '
                              f'no {KEYS_ENTRY!r}; it was edited')
    _check_tensors(path, _decode(path, header, KEYS_ENTRY, list), meta,
                   state)
    return dict(state_dict=state, meta=meta)


def load_from_safetensors(filename: str, map_location=None) -> dict:
    """mmengine checkpoint backend for local ``.safetensors`` paths (the
    tensors stay on the CPU; loading into the model moves them)."""
    return load_safetensors(osp.expanduser(filename))


# mmengine picks a backend by matching these prefixes as regular
# expressions; this one takes local paths ending in .safetensors and leaves
# URLs ('scheme://...') to their own backends.
LOCAL_SAFETENSORS = r'(?!.*://).*\.safetensors$'
CheckpointLoader.register_scheme(LOCAL_SAFETENSORS, load_from_safetensors,
                                 force=True)
