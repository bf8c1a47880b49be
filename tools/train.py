"""Train a model from a config: segmentation, detection, depth or
classification, chosen by the config (its ``default_scope``).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import logging

from mmengine.config import Config
from mmengine.logging import print_log

import mmpeft  # noqa: F401 (registers wrappers, adapters, compat)
from mmpeft.utils import (add_common_args, apply_resume, build_runner,
                          exit_on_bad_input, load_config)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or without a value from '
        'the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='enable automatic-mixed-precision training')
    add_common_args(parser)
    return parser.parse_args()


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
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    apply_resume(cfg, args.resume)
    runner = build_runner(cfg)
    exit_on_bad_input(runner.train)


if __name__ == '__main__':
    main()
