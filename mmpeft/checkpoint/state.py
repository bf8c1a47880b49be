"""What a PEFT checkpoint holds and how it is checked against a model.

An *adapter-only* checkpoint keeps what training changed: the adapters, any
extra trainable backbone parameters, and everything outside the backbone
(neck, heads, their buffers). The frozen backbone comes from the base
weights named in the config; ``meta['peft']`` records which base (its
source and the sha256 of the file that was loaded) the checkpoint expects.
"""
import hashlib
import os.path as osp
from typing import Dict, Iterable, Optional
from urllib.parse import urlparse

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper

from ..adapters.base import is_adapter_key
from .files import CheckpointError
from .safetensors_file import is_safetensors, load_safetensors

BACKBONE_PREFIX = 'backbone.'


def file_sha256(path: str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def local_copy(source: str) -> Optional[str]:
    """The local file a checkpoint source was loaded from, if any: the path
    itself, or the download cache file of a URL."""
    if osp.isfile(source):
        return source
    if urlparse(source).scheme in ('http', 'https'):
        cached = osp.join(torch.hub.get_dir(), 'checkpoints',
                          osp.basename(urlparse(source).path))
        if osp.isfile(cached):
            return cached
    return None


def pretrained_source(init_cfg) -> Optional[str]:
    """The checkpoint a backbone's ``init_cfg`` loads, or None."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if cfg and cfg.get('type') == 'Pretrained' and cfg.get('checkpoint'):
            return str(cfg['checkpoint'])
    return None


def describe_base(init_cfg) -> dict:
    source = pretrained_source(init_cfg)
    path = local_copy(source) if source else None
    return dict(checkpoint=source, sha256=file_sha256(path) if path else None)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def peft_backbone(model: nn.Module) -> Optional[nn.Module]:
    backbone = getattr(unwrap(model), 'backbone', None)
    return backbone if hasattr(backbone, 'peft_report') else None


def trained_backbone_keys(model: nn.Module) -> list:
    """State-dict keys (model level) of the backbone that training changes:
    trainable parameters plus adapter buffers."""
    backbone = peft_backbone(model)
    keys = [
        BACKBONE_PREFIX + name
        for name, param in backbone.named_parameters() if param.requires_grad
    ]
    keys += [
        BACKBONE_PREFIX + name for name in backbone.state_dict()
        if is_adapter_key(name)
    ]
    return sorted(set(keys))


def keep_trained(state_dict: Dict[str, torch.Tensor],
                 trained_backbone: Iterable[str]) -> Dict[str, torch.Tensor]:
    """Drop the frozen backbone entries of a model-level state dict."""
    trained = set(trained_backbone)
    return type(state_dict)(
        (k, v) for k, v in state_dict.items()
        if not k.startswith(BACKBONE_PREFIX) or k in trained)


def load_error(path: str, error: Exception) -> CheckpointError:
    """One line naming the file for a checkpoint that cannot be loaded."""
    text = str(error)
    if isinstance(error, FileNotFoundError):
        return CheckpointError(f'{path}: no such checkpoint file')
    unsafe = ('Unsupported global', 'is blocked', 'unrecognized function')
    detail = next((line.strip() for line in text.splitlines()
                   if any(marker in line for marker in unsafe)), None)
    if detail is not None:
        return CheckpointError(
            f'{path}: refused, the file holds objects outside the '
            f'weights-only allowlist, which could run code when loaded '
            f'({detail}); mmpeft never loads checkpoints with '
            f'weights_only=False')
    first_sentence = (text.strip().splitlines() or [''])[0].split('. ')[0]
    return CheckpointError(f'{path}: cannot load this checkpoint, it is '
                           f'truncated or corrupted ({type(error).__name__}'
                           f': {first_sentence})')


def load_checkpoint_file(path: str) -> dict:
    """Weights-only load (a .pth, or a .safetensors file as
    ``dict(state_dict=..., meta=...)``) with a one-line error naming the
    file."""
    if is_safetensors(path):
        return load_safetensors(path)
    try:
        return torch.load(path, map_location='cpu')
    except Exception as error:  # missing, truncated, corrupted or unsafe
        raise load_error(path, error) from None


class AdapterKeyMismatch(CheckpointError, KeyError):
    """A checkpoint's adapters differ from the model's."""

    def __str__(self):  # KeyError would print the repr of the message
        return str(self.args[0])


def check_adapter_keys(checkpoint_keys: Iterable[str],
                       model_keys: Iterable[str], source: str = '') -> None:
    """Adapter keys must match exactly: a different adapter configuration is
    an error, never a silent partial load."""
    ckpt = {k for k in checkpoint_keys if is_adapter_key(k)}
    model = {k for k in model_keys if is_adapter_key(k)}
    missing, unexpected = sorted(model - ckpt), sorted(ckpt - model)
    if missing or unexpected:
        raise AdapterKeyMismatch(
            f'adapter checkpoint {source} does not match the adapters of '
            f'this model (different adapter configuration?)\n'
            f'  missing adapter keys ({len(missing)}): {_short(missing)}\n'
            f'  unexpected adapter keys ({len(unexpected)}): '
            f'{_short(unexpected)}')


def check_base(expected: dict, loaded: dict, source: str = '') -> None:
    """The base backbone weights must be the ones the checkpoint expects."""
    want, have = expected.get('sha256'), loaded.get('sha256')
    if want is None or want == have:
        return
    raise CheckpointError(
        f'adapter checkpoint {source} was trained on base weights '
        f"{expected.get('checkpoint')} (sha256 {want[:8]}...), but this "
        f"config's backbone loaded {loaded.get('checkpoint')} (sha256 "
        f"{(have or 'unknown')[:8]}...); set model.backbone.init_cfg to the "
        f'expected base checkpoint')


def _short(keys, limit=6):
    shown = ', '.join(keys[:limit])
    return shown + (f', ... (+{len(keys) - limit})' if len(keys) > limit
                    else '')

