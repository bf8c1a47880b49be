"""One file format for pretrained backbone weights, read by every wrapper.

The format is an mmengine checkpoint whose ``state_dict`` holds the
backbone's weights under the names a whole-model checkpoint gives them,
``backbone.<key>``, plus a ``meta`` dict; :func:`save_backbone_weights`
writes it from a training checkpoint (the demo's pretraining output is
one). Upstream loaders disagree on prefixes: mmdet's Swin keeps only keys
that start with ``backbone.`` (a bare file leaves it an empty dict and an
IndexError), mmseg's ViT and mmengine's ``PretrainedInit`` (mmpretrain)
take keys as they are, or after the ``prefix`` of the ``init_cfg`` (a file
in the other form loads nothing, silently), mmseg's Swin takes both.

So a wrapper does not hand upstream the file as it is: it reads the keys,
and when they are not in a form its upstream loader reads, it hands the
loader the same tensors under the names that loader expects, as an
in-memory checkpoint (:func:`upstream_reads_pretrained`). Upstream's own
loading code (position-embedding resizing, relative-position tables,
converters) runs unchanged. A file none of whose keys name a weight of the
backbone is an error naming the file, never an empty load.
"""
import contextlib
import hashlib
import itertools
import os
import os.path as osp
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmengine.runner import CheckpointLoader

BACKBONE_PREFIX = 'backbone.'
FORMAT = 'mmpeft-backbone-weights/1'
MEMORY_SCHEME = 'mmpeft-memory://'
# Prefixes under which a checkpoint may keep its backbone's weights: a
# DDP-wrapped model adds 'module.'.
_KNOWN_PREFIXES = ('module.backbone.', BACKBONE_PREFIX, 'module.', '')

_in_memory: Dict[str, dict] = {}
_names = itertools.count()


@CheckpointLoader.register_scheme(prefixes=MEMORY_SCHEME)
def _load_from_memory(filename, map_location=None):
    """A checkpoint handed to an upstream loader without a file."""
    return _in_memory[filename]


def checkpoint_state_dict(checkpoint: dict) -> dict:
    """The weights of a loaded checkpoint, wherever its writer put them."""
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def backbone_weights(state_dict: dict) -> Tuple[Dict[str, torch.Tensor], str]:
    """The backbone's weights with bare keys, and the prefix they had.

    A state dict with ``backbone.`` keys (a whole-model checkpoint, or this
    module's format) gives those; one without them is a backbone's own.
    """
    for prefix in _KNOWN_PREFIXES:
        if prefix and not any(k.startswith(prefix) for k in state_dict):
            continue
        weights = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
        return weights, prefix
    raise AssertionError('unreachable: the empty prefix always matches')


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def save_backbone_weights(checkpoint: str, out: str,
                          meta: Optional[dict] = None,
                          heads: Sequence[str] = (),
                          drop: Sequence[str] = ()) -> str:
    """Write the backbone weights of ``checkpoint`` (a training checkpoint
    or any state dict) to ``out`` in this module's format, atomically;
    returns the sha256 of the written file.

    ``heads``: whole-model prefixes (e.g. ``'decode_head.'``) of other
    modules whose weights the file keeps too, under their whole-model
    names, for heads that start from them (``init_cfg`` with that
    ``prefix``); ``drop``: key fragments left out of those (e.g. a
    classifier, ``'.conv_seg.'``). Backbone loaders ignore these keys.
    """
    state = checkpoint_state_dict(
        torch.load(checkpoint, map_location='cpu', weights_only=True))
    weights, _ = backbone_weights(state)
    if not weights:
        raise ValueError(f'{checkpoint}: no backbone weights in it')
    kept = {BACKBONE_PREFIX + k: v for k, v in weights.items()}
    for prefix in heads:
        head = {k: v for k, v in state.items()
                if k.startswith(prefix) and not any(d in k for d in drop)}
        if not head:
            raise ValueError(f'{checkpoint}: no weights under {prefix!r}')
        kept.update(head)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    tmp = f'{out}.tmp-{os.getpid()}'
    torch.save(
        dict(state_dict=kept,
             meta=dict(meta or {}, format=FORMAT, heads=list(heads),
                       dropped=list(drop),
                       source=osp.basename(checkpoint))), tmp)
    os.replace(tmp, out)
    return sha256_of(out)


def _read_state_dict(source: str) -> dict:
    if osp.isfile(source) and source.endswith('.pth'):
        # mmap: only the keys are needed here; upstream reads the tensors.
        checkpoint = torch.load(source, map_location='cpu', mmap=True,
                                weights_only=True)
    else:
        checkpoint = CheckpointLoader.load_checkpoint(source, 'cpu')
    return checkpoint_state_dict(checkpoint)


@contextlib.contextmanager
def upstream_reads_pretrained(backbone, accepted_prefixes: Sequence[str],
                              expected_keys) -> Iterator[None]:
    """Within the block, ``backbone.init_cfg`` points at a checkpoint whose
    keys carry one of ``accepted_prefixes`` (the forms the upstream loader
    of this family reads), holding the tensors of the configured file.

    ``expected_keys``: the backbone's own weight names (adapters excluded);
    a file with none of them is a ValueError naming the file.
    """
    init_cfg = backbone.init_cfg
    if not (isinstance(init_cfg, dict)
            and init_cfg.get('type') == 'Pretrained'
            and init_cfg.get('checkpoint')):
        yield
        return
    source = init_cfg['checkpoint']
    state = _read_state_dict(source)
    weights, prefix = backbone_weights(state)
    expected = set(expected_keys)
    if not expected & set(weights):
        raise ValueError(
            f'{source}: none of its {len(state)} keys (e.g. '
            f'{sorted(state)[:3]}) names a weight of '
            f'{type(backbone).__name__} (e.g. {sorted(expected)[:3]})')
    if prefix in accepted_prefixes and len(weights) == len(state):
        yield
        return
    name = f'{MEMORY_SCHEME}{next(_names)}/{osp.basename(source)}'
    wanted = accepted_prefixes[0]
    _in_memory[name] = dict(
        state_dict={wanted + k: v
                    for k, v in weights.items()})
    init_cfg['checkpoint'] = name
    try:
        yield
    finally:
        init_cfg['checkpoint'] = source
        del _in_memory[name]
