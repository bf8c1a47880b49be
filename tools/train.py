"""Train a model from a config: segmentation, detection, depth or
classification, chosen by the config (its ``default_scope``).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import logging
import os
import sys

from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner

import mmpeft  # noqa: F401 (registers wrappers, adapters, compat)
from mmpeft.checkpoint import CheckpointError
from mmpeft.utils import (adapt_to_machine, default_work_dir,
                          guard_checkpoint_loading)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or without a value from '
        'the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_iters=100')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed launchers pass --local-rank (or set LOCAL_RANK).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_amp(cfg: Config) -> None:
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP is already enabled in the config', logger='current',
                  level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type=OptimWrapper, the '
                         f'config has {wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(
        args.config)
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    adapt_to_machine(cfg)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    runner = (RUNNERS.build(cfg) if 'runner_type' in cfg else
              Runner.from_cfg(cfg))
    guard_checkpoint_loading(runner)
    try:
        runner.train()
    except CheckpointError as error:
        sys.exit(f'error: {error}')


if __name__ == '__main__':
    main()
