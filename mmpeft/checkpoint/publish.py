"""Publishing checkpoints under the model-zoo naming convention
``<name>-<first 8 hex of the file's sha256>.pth``."""
import os
import os.path as osp
import re

from .files import atomic_save
from .state import file_sha256, keep_trained, load_checkpoint_file

HASH_SUFFIX = re.compile(r'-([0-9a-f]{8})\.pth$')


def strip_training_state(checkpoint: dict, adapter_only: bool) -> dict:
    """Keep the weights and meta; drop optimizer, schedulers, message hub.

    With ``adapter_only``, also drop the frozen backbone, using the trained
    keys that PEFTCheckpointHook recorded in ``meta['peft']``.
    """
    meta = dict(checkpoint.get('meta', {}))
    state = checkpoint.get('state_dict', checkpoint)
    if adapter_only:
        peft = meta.get('peft')
        if not peft:
            raise ValueError(
                "--adapter-only needs meta['peft'] (written by "
                'PEFTCheckpointHook) to know which backbone weights were '
                'trained; this checkpoint has none')
        state = keep_trained(state, peft['trained_backbone_keys'])
        meta['peft'] = dict(peft, adapter_only=True)
    return dict(state_dict=state, meta=meta)


def publish(in_file: str, out_file: str, adapter_only: bool = False) -> str:
    """Write a stripped copy of ``in_file`` as ``<out stem>-<sha8>.pth``."""
    checkpoint = load_checkpoint_file(in_file)
    published = strip_training_state(checkpoint, adapter_only)
    # splitext, not rstrip('.pth'), which also eats trailing 'p', 't', 'h'.
    stem = osp.splitext(out_file)[0]
    tmp = stem + '.tmp.pth'
    atomic_save(published, tmp)
    final = f'{stem}-{file_sha256(tmp)[:8]}.pth'
    os.replace(tmp, final)
    return final


def verify(path: str) -> str:
    """Check that a published file's name carries its own hash."""
    match = HASH_SUFFIX.search(osp.basename(path))
    if match is None:
        raise ValueError(f'{path}: the name has no -<8 hex>.pth hash suffix')
    actual = file_sha256(path)[:8]
    if actual != match.group(1):
        raise ValueError(f'{path}: the name says sha256 {match.group(1)}... '
                         f'but the file hashes to {actual}...')
    return actual
