"""Config adjustments shared by tools/train.py and tools/test.py."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoint.state import CheckpointError


def default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def _replace_sync_bn(node) -> int:
    """Turn every ``type='SyncBN'`` in a config tree into ``'BN'``."""
    replaced = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            replaced += 1
        for value in node.values():
            replaced += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            replaced += _replace_sync_bn(value)
    return replaced


def adapt_to_machine(cfg: Config) -> None:
    """Let upstream GPU configs run on a machine without CUDA.

    Distributed runs use the gloo backend (NCCL needs GPUs), and SyncBN,
    which only runs on GPUs, becomes BN (the Runner already does this for
    non-distributed runs, but not for distributed ones).
    """
    if torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') != 'gloo':
        dist_cfg['backend'] = 'gloo'
        print_log('No CUDA: distributed backend set to gloo',
                  logger='current')
    if _replace_sync_bn(cfg.get('model', {})):
        print_log('No CUDA: SyncBN layers built as BN', logger='current')


def guard_checkpoint_loading(runner) -> None:
    """Make checkpoint failures of this runner (resume, load_from, testing)
    one :class:`CheckpointError` naming the file, instead of a stack trace
    from deep inside unpickling. Only this runner object is changed."""
    load = runner.load_checkpoint

    def load_checked(filename, *args, **kwargs):
        try:
            return load(filename, *args, **kwargs)
        except CheckpointError:
            raise
        except Exception as error:
            first_line = (str(error).strip().splitlines() or [''])[0]
            raise CheckpointError(
                f'{filename}: cannot load this checkpoint '
                f'({type(error).__name__}: {first_line})') from error

    runner.load_checkpoint = load_checked
