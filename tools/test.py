"""Test a checkpoint with the evaluator of its config (any task).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
                         [--show-dir DIR] [--tta] [--dump-metrics FILE]
                         [--cfg-options k=v ...]
                         [--launcher pytorch]
"""
import argparse
import json

from mmengine.config import Config

import mmpeft  # noqa: F401 (registers wrappers, adapters, compat)
from mmpeft.utils import (add_common_args, build_runner,
                          exit_on_bad_input, load_config)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file')
    parser.add_argument(
        '--show-dir', help='draw predictions into this dir (relative to '
        'the run dir, as upstream)')
    parser.add_argument(
        '--dump-metrics', help='also write the metrics to this JSON file')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation from the config')
    add_common_args(parser)
    return parser.parse_args()


def enable_visualization(cfg: Config, show_dir: str) -> None:
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise KeyError('--show-dir needs default_hooks.visualization in the '
                       'config')
    hook['draw'] = True
    # mmdet's hook takes the folder itself, mmseg's and mmpretrain's draw
    # through the visualizer's save_dir.
    if 'Det' in hook.get('type', ''):
        hook['test_out_dir'] = show_dir
    else:
        cfg.visualizer['save_dir'] = show_dir


def enable_tta(cfg: Config) -> None:
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise KeyError('--tta needs tta_model and tta_pipeline in the config')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def main():
    args = parse_args()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    if args.tta:
        enable_tta(cfg)
    if args.out:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        cfg.test_evaluator = [
            *evaluators, dict(type='DumpResults', out_file_path=args.out)
        ]
    runner = build_runner(cfg)
    metrics = exit_on_bad_input(runner.test)
    if args.dump_metrics:
        with open(args.dump_metrics, 'w') as f:
            json.dump(metrics, f, indent=2)


if __name__ == '__main__':
    main()
