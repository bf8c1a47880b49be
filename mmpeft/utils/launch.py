"""Config adjustments shared by tools/train.py and tools/test.py."""
import os.path as osp
from datetime import timedelta

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoint.state import CheckpointError, load_error


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

    SyncBN, which only runs on GPUs, becomes BN (the Runner already does
    this for non-distributed runs, but not for distributed ones). A
    distributed run (``launcher='pytorch'``) joins a gloo process group here,
    because mmengine's own set-up always selects a CUDA device, and wraps the
    model in DDP without device ids, as CPU modules require.
    """
    if torch.cuda.is_available():
        return
    if _replace_sync_bn(cfg.get('model', {})):
        print_log('No CUDA: SyncBN layers built as BN', logger='current')
    if cfg.get('launcher', 'none') == 'none':
        return
    if cfg.launcher != 'pytorch':
        raise ValueError(f'--launcher {cfg.launcher} needs CUDA; on CPU use '
                         f'--launcher pytorch (tools/dist_train.sh)')
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get(
            'timeout', 1800)
        dist.init_process_group(backend='gloo',
                                timeout=timedelta(seconds=timeout))
    cfg.setdefault(
        'model_wrapper_cfg',
        dict(type='MMDistributedDataParallel', device_ids=None,
             broadcast_buffers=False,
             find_unused_parameters=cfg.get('find_unused_parameters',
                                            False)))
    print_log('No CUDA: distributed over CPU processes with gloo',
              logger='current')


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
            raise load_error(filename, error) from error

    runner.load_checkpoint = load_checked
