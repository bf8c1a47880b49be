"""Training and inference cost of PEFT methods on the model of a config.

    python tools/analysis_tools/benchmark.py CONFIG
        [--methods full,floor,head,adaptformer,convpass,iconformer]
        [--batch 2] [--infer-batch N] [--shape H W] [--device cpu|cuda]
        [--json] [--out FILE] [--threads N] [--amp] [--rounds R]

Every method is built from the same config (its backbone options apply to
all of them; the adapter, tuning and adapter_blocks keys are set per method)
and measured on the same synthetic inputs (fixed seed, checksum in the
JSON). Methods:

    full         tuning='full', no adapter: full fine-tuning; with no adapter
                 the wrapper adds no hook, so at inference this is the plain
                 upstream model ("plain" in the ratios)
    floor        backbone frozen but back-propagated through: tuning='frozen'
                 plus one zero-initialised, trainable (C,) shift added to the
                 patch-embedding output, so that gradients flow back through
                 every block (the floor of any method with adapters in every
                 block; those skip the inside of block 0, so they may land
                 slightly under it)
    head         tuning='frozen': nothing in the backbone trains and nothing
                 is back-propagated through it (head only); alias 'frozen'
    <adapter>    tuning='peft', adapter=dict(type=<adapter>) with the
                 method's defaults, in every block; '<adapter>@lastN' puts
                 the adapters in the last N blocks only (dict(last=N));
                 'e3va' is the gradient-bypass side path
    +bf16, +cp   suffixes: frozen backbone weights stored in bfloat16
                 (frozen_dtype='bf16'), activation checkpointing
                 (with_cp=True); e.g. 'iconformer+bf16', 'full+cp'

Per method: a training step (data preprocessing, forward, backward,
optimizer step: ``model.train_step``; warm-up, then the median of several),
its peak memory (CUDA: max allocated; CPU: the peak resident memory of a
process of its own, from before the model is built: weights, gradients,
optimizer state and activations), the number of backbone blocks whose output
carries autograd, inference latency (network forward, ``mode='tensor'``,
no pre/post-processing) at batch 1 and at the inference batch, parameters,
GFLOPs (torch.utils.flop_counter: 2 FLOPs per multiply-add, batch 1) and
the cost of the adapters alone (every adapter call of the model replayed on
inputs of the shapes it sees: inference at the inference batch, forward and
backward at the training batch). The pieces live in ``mmpeft.benchmark``.
"""
import argparse
import json
import logging
import os
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from mmpeft.benchmark.measure import interleaved_inference, run_method
from mmpeft.benchmark.methods import DEFAULT_METHODS, method_names
from mmpeft.benchmark.process import run_isolated, write_worker_result
from mmpeft.benchmark.report import (add_ratios, cpu_name, format_table,
                                     pool_rounds)
from mmpeft.benchmark.synthetic import default_shape


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file (or mmseg::..., '
                        'mmpretrain::... of an upstream package)')
    parser.add_argument('--methods', default=DEFAULT_METHODS,
                        help='comma-separated: full, floor, head (frozen), '
                        'an adapter name, <adapter>@lastN, each with '
                        'optional +bf16 / +cp')
    parser.add_argument('--batch', type=int, default=2,
                        help='training batch (and inference batch unless '
                        '--infer-batch)')
    parser.add_argument('--infer-batch', type=int, default=None,
                        help='the larger inference batch (default: --batch)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: the '
                        "config's crop size)")
    parser.add_argument('--device', default='cpu',
                        help="'cpu' or 'cuda' (or 'cuda:N')")
    parser.add_argument('--json', action='store_true',
                        help='print JSON instead of the table')
    parser.add_argument('--out', help='also write the JSON to this file')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed repetitions before timing')
    parser.add_argument('--iters', type=int, default=3,
                        help='timed training steps')
    parser.add_argument('--infer-iters', type=int, default=None,
                        help='timed inference runs (default: --iters)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='run the whole method list this many times, '
                        'interleaved, and pool the samples')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: AmpOptimWrapper (fp16) on '
                        'CUDA, BF16AmpOptimWrapper (bfloat16) on CPU')
    parser.add_argument('--isolation', choices=['process', 'none'],
                        default='process',
                        help="'process': a fresh process per method (forked; "
                        'memory comparable across methods); \'none\': all in '
                        'this process (memory figures not comparable)')
    parser.add_argument('--constructor', default=None,
                        help='optimizer-wrapper constructor (default: the '
                        "config's, else PEFTOptimWrapperConstructor)")
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='times in the table: wall clock, or the CPU '
                        'time of the process (steadier on a shared machine '
                        'with --threads 1); the JSON has both')
    parser.add_argument(
        '--inference', choices=['interleaved', 'separate'], default=None,
        help="'interleaved' (default): after the training measurements, all "
        'networks are built side by side in this process and their '
        "inference is timed in turns; 'separate': in each method's own "
        'process')
    parser.add_argument('--skip-training', action='store_true',
                        help='inference, parameters and GFLOPs only')
    parser.add_argument('--skip-inference', action='store_true',
                        help='training rows only')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, as in tools/train.py')
    parser.add_argument(
        '--adapter-options', nargs='+', action=DictAction, default={},
        help='options for every adapter method, each passed to the adapters '
        'that accept it (e.g. bottleneck=8); default: the methods\' own')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--worker-out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.infer_batch is None:
        args.infer_batch = args.batch
    if args.infer_iters is None:
        args.infer_iters = args.iters
    return args


def load_config(args) -> Config:
    path = args.config
    if '::' in path and not os.path.exists(path):
        from mmengine.hub import get_config
        cfg = get_config(path)
    else:
        cfg = Config.fromfile(path)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    args.shape = tuple(args.shape or default_shape(cfg))
    return cfg


def setup_process(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    logger = MMLogger.get_instance('mmpeft-benchmark', log_level='WARNING')
    logger.setLevel(logging.WARNING)
    for handler in logger.handlers:
        handler.setLevel(logging.WARNING)
    import mmpeft  # noqa: F401 (registers the wrappers, adapters, engine)


def measure_all(cfg, args, argv, names) -> dict:
    per_method = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names:
            print(f'[benchmark] round {round_index + 1}/{args.rounds}: '
                  f'{name}', file=sys.stderr, flush=True)
            if args.isolation == 'process':
                result = run_isolated(cfg, args, argv, name,
                                      os.path.abspath(__file__))
            else:
                result = run_method(cfg, args, name)
            per_method[name].append(result)
    rows = {name: pool_rounds(results) for name, results in per_method.items()}
    if args.inference == 'interleaved' and not args.skip_inference:
        print('[benchmark] inference, all networks in turns',
              file=sys.stderr, flush=True)
        interleaved_inference(cfg, args, rows)
    add_ratios(rows)
    return rows


def settings_of(args, names) -> dict:
    return dict(
        methods=names, batch=args.batch, infer_batch=args.infer_batch,
        shape=list(args.shape), device=args.device, amp=args.amp,
        threads=args.threads or torch.get_num_threads(),
        isolation=args.isolation, rounds=args.rounds,
        inference=args.inference, warmup=args.warmup, iters=args.iters,
        infer_iters=args.infer_iters, seed=args.seed,
        cfg_options=args.cfg_options and {
            k: repr(v) for k, v in args.cfg_options.items()},
        adapter_options=dict(args.adapter_options))


def machine_of(args) -> dict:
    device_name = (torch.cuda.get_device_name(args.device)
                   if args.device.startswith('cuda') else cpu_name())
    return dict(device_name=device_name, cpu_count=os.cpu_count(),
                torch=torch.__version__,
                load_average=(list(os.getloadavg())
                              if hasattr(os, 'getloadavg') else None))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.inference is None:
        args.inference = 'separate' if args.worker else 'interleaved'
    setup_process(args)
    cfg = load_config(args)
    if args.worker:
        return write_worker_result(cfg, args)
    names = method_names(args.methods)  # fail before any measurement
    rows = measure_all(cfg, args, argv, names)
    report = dict(config=args.config, settings=settings_of(args, names),
                  machine=machine_of(args), methods=rows)
    text = json.dumps(report, indent=1, default=str)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    print(text if args.json else format_table(report, args.clock))
    return report


if __name__ == '__main__':
    main()
