"""What tools/train.py and tools/test.py share: the common arguments, the
config loading, the runner and the machine adjustments."""
import argparse
import os
import os.path as osp
import re
import sys
import logging
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner, find_latest_checkpoint

from ..checkpoint.safetensors_file import is_safetensors
from ..checkpoint.state import CheckpointError, load_error
from ..datasets.checks import DataError
from ..models.backbones import check_adapter_hosts


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


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher and --local-rank, as upstream."""
    parser.add_argument('--work-dir', help='the dir to save logs, models '
                        'and metrics in')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_iters=100')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed launchers pass --local-rank (or set LOCAL_RANK).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """The config with the command line applied (work dir: CLI > config >
    work_dirs/<config name>)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(
        args.config)
    return cfg


CHECKPOINT_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` without a value continues from.

    mmengine reads the ``last_checkpoint`` pointer, which its CheckpointHook
    rewrites in place after every save: a process killed during that write
    leaves it empty, and a checkpoint deleted by hand leaves it dangling.
    Either way the newest complete ``iter_N.pth`` / ``epoch_N.pth`` in the
    work dir is used instead. ``None`` when the work dir has no checkpoint
    (training then starts from the beginning, as upstream).
    """
    named = find_latest_checkpoint(work_dir)  # mmengine reads the pointer
    if named and osp.isfile(named):
        return named
    if named is not None:
        print_log(f'{osp.join(work_dir, "last_checkpoint")} names '
                  f'{named!r}, which is not a file; looking for the newest '
                  f'checkpoint in {work_dir}', logger='current',
                  level=logging.WARNING)
    numbered = []
    if osp.isdir(work_dir):
        for name in os.listdir(work_dir):
            match = CHECKPOINT_NAME.match(name)
            if match:
                numbered.append((int(match.group(1)), name))
    if not numbered:
        return None
    return osp.join(work_dir, max(numbered)[1])


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume CKPT`` resumes from CKPT; ``--resume`` without a value
    (``'auto'``) from :func:`latest_checkpoint` of the work dir."""
    if resume is None:
        return
    if is_safetensors(resume):
        raise ValueError(f'--resume {resume}: a .safetensors file holds '
                         f'weights only, no optimizer or schedule to resume; '
                         f'start from it with load_from={resume!r}')
    if resume == 'auto':
        resume = latest_checkpoint(cfg.work_dir)
        if resume is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir}, training '
                      f'from the start', logger='current')
    # resume=False with nothing to load is what mmengine does when it finds
    # no checkpoint; resume=True would make it read the pointer again.
    cfg.resume, cfg.load_from = resume is not None, resume


def build_runner(cfg: Config) -> Runner:
    adapt_to_machine(cfg)
    scope = cfg.get('default_scope', 'mmengine')
    check_adapter_hosts(cfg.get('model', {}), scope)
    init_default_scope(scope)
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    guard_checkpoint_loading(runner)
    return runner


def exit_on_bad_input(run):
    """Run ``run()``; an unusable checkpoint or data file ends the process
    with one line on stderr naming it, instead of a stack trace."""
    try:
        return run()
    except (CheckpointError, DataError) as error:
        sys.exit(f'error: {last_line(error)}')


def last_line(error: Exception) -> str:
    """The message of ``error``; raised in a DataLoader worker, the message
    is the worker's whole traceback, ending in ``module.Type: message``."""
    message = str(error).strip().splitlines()[-1]
    prefix = f'{type(error).__module__}.{type(error).__name__}: '
    return message[len(prefix):] if message.startswith(prefix) else message
