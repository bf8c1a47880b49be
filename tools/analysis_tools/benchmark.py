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
                 the adapters in the last N blocks only (dict(last=N))

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
backward at the training batch).
"""
import argparse
import copy
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

BASE_METHODS = ('full', 'floor', 'head')
DEFAULT_METHODS = 'full,floor,head,adaptformer,convpass,iconformer'
ALIASES = {'frozen': 'head'}
MB = 2**20
TIMED = ('train_step_s', 'infer_b1_ms', 'infer_bN_ms', 'adapters_train_ms',
         'adapters_infer_b1_ms', 'adapters_infer_bN_ms')


def cpu_key(key: str) -> str:
    """'train_step_s' -> 'train_step_cpu_s': the CPU-time twin of a key."""
    stem, unit = key.rsplit('_', 1)
    return f'{stem}_cpu_{unit}'


ALL_TIMED = TIMED + tuple(cpu_key(k) for k in TIMED)


# ----------------------------------------------------------------- methods
def adapter_types():
    from mmpeft.adapters import ADAPTERS
    return {name.lower(): name for name in ADAPTERS.module_dict}


def parse_method(name: str) -> dict:
    """'full' | 'floor' | 'head' | '<adapter>[@lastN|@all]'."""
    base, _, where = name.strip().partition('@')
    base = ALIASES.get(base.lower(), base.lower())
    if base in BASE_METHODS:
        if where:
            raise ValueError(f'method {name!r}: @{where} applies to adapter '
                             f'methods only')
        return dict(name=name, kind=base)
    types = adapter_types()
    if base not in types:
        raise ValueError(f'unknown method {name!r}; choose from '
                         f'{list(BASE_METHODS) + sorted(types)}, optionally '
                         f"with '@lastN'")
    blocks = 'all'
    if where and where != 'all':
        match = re.fullmatch(r'last(\d+)', where)
        if not match:
            raise ValueError(f"method {name!r}: use '@lastN' or '@all'")
        blocks = dict(last=int(match.group(1)))
    return dict(name=name, kind='adapter', adapter=types[base],
                adapter_blocks=blocks)


def method_model_cfg(cfg: Config, method: dict, shape,
                     adapter_options=None) -> dict:
    model = copy.deepcopy(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict')
                          else dict(cfg.model))
    if 'data_preprocessor' not in model and cfg.get('data_preprocessor'):
        model['data_preprocessor'] = copy.deepcopy(
            dict(cfg.data_preprocessor))
    preprocessor = model.get('data_preprocessor') or {}
    if 'size' in preprocessor and preprocessor['size'] is not None:
        preprocessor['size'] = tuple(shape)  # pad to the measured shape
    from mmpeft.models.backbones import WRAPPER_OPTIONS
    backbone = model['backbone']
    for key in WRAPPER_OPTIONS:  # each method sets its own
        backbone.pop(key, None)
    if not backbone['type'].startswith('PEFT'):
        backbone['type'] = 'PEFT' + backbone['type']
    if method['kind'] == 'full':
        backbone['tuning'] = 'full'
    elif method['kind'] in ('floor', 'head'):
        backbone['tuning'] = 'frozen'
    else:
        backbone['tuning'] = 'peft'
        backbone['adapter'] = dict(
            type=method['adapter'],
            **applicable_options(method['adapter'], adapter_options or {}))
        backbone['adapter_blocks'] = method['adapter_blocks']
    return model


def applicable_options(adapter_type: str, options: dict) -> dict:
    """The --adapter-options an adapter's __init__ accepts."""
    import inspect

    from mmpeft.adapters import ADAPTERS
    accepted = inspect.signature(ADAPTERS.get(adapter_type)).parameters
    return {k: v for k, v in options.items() if k in accepted}


class FloorShift:
    """Adds a zero-initialised trainable (C,) vector to the patch-embedding
    output: the frozen backbone then has to be back-propagated through."""

    def __init__(self, backbone: nn.Module):
        embed = backbone.patch_embed
        convs = [m for m in embed.modules() if isinstance(m, nn.Conv2d)]
        channels = convs[0].out_channels
        param = nn.Parameter(torch.zeros(channels))
        backbone.register_parameter('benchmark_floor_shift', param)
        self.param = param
        embed.register_forward_hook(self.hook)

    def hook(self, module, args, output):
        if isinstance(output, tuple):
            return (output[0] + self.param, ) + tuple(output[1:])
        return output + self.param


def build_model(cfg: Config, method: dict, shape, device: str,
                adapter_options=None):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(
        method_model_cfg(cfg, method, shape, adapter_options))
    model = revert_sync_batchnorm(model)  # no process group here
    if method['kind'] == 'floor':
        FloorShift(model.backbone)
    return model.to(device)


# -------------------------------------------------------------------- data
def find_key(cfg, key):
    if isinstance(cfg, dict):
        if key in cfg and cfg[key] is not None:
            return cfg[key]
        values = cfg.values()
    elif isinstance(cfg, (list, tuple)):
        values = cfg
    else:
        return None
    for value in values:
        found = find_key(value, key)
        if found is not None:
            return found
    return None


def default_shape(cfg: Config):
    size = find_key(dict(cfg.model), 'size') or cfg.get('crop_size')
    if size is None:
        size = find_key(dict(cfg.model.backbone), 'img_size') or 224
    if isinstance(size, int):
        size = (size, size)
    return tuple(int(s) for s in size)


def synthetic_batch(cfg: Config, batch: int, shape, seed: int = 0) -> dict:
    """Random uint8 images and random ground truth for the config's task."""
    gen = torch.Generator().manual_seed(seed)
    height, width = shape
    scope = cfg.get('default_scope', 'mmseg')
    num_classes = find_key(dict(cfg.model), 'num_classes') or 10
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, height, width),
                                    generator=gen, dtype=torch.uint8))
        meta = dict(img_shape=(height, width), ori_shape=(height, width),
                    pad_shape=(height, width), scale_factor=(1.0, 1.0),
                    flip=False, flip_direction=None)
        if scope == 'mmseg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            if cfg.model.get('type') == 'DepthEstimator':
                sample.gt_depth_map = PixelData(
                    data=torch.rand(1, height, width, generator=gen) * 10)
            else:
                sample.gt_sem_seg = PixelData(data=torch.randint(
                    0, num_classes, (1, height, width), generator=gen))
        elif scope == 'mmpretrain':
            from mmpretrain.structures import DataSample
            sample = DataSample(metainfo=meta).set_gt_label(
                int(torch.randint(0, num_classes, (1, ), generator=gen)))
        elif scope == 'mmdet':
            import numpy as np
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            sample = DetDataSample(metainfo=meta)
            num = 3
            xy = torch.rand(num, 2, generator=gen) * 0.5
            wh = torch.rand(num, 2, generator=gen) * 0.4 + 0.1
            scale = torch.tensor([width, height], dtype=torch.float32)
            boxes = torch.cat([xy * scale, (xy + wh) * scale], 1)
            masks = np.zeros((num, height, width), dtype=np.uint8)
            for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
                masks[i, y1:y2, x1:x2] = 1
            sample.gt_instances = InstanceData(
                bboxes=boxes,
                labels=torch.randint(0, num_classes, (num, ), generator=gen),
                masks=BitmapMasks(masks, height, width))
            sample.ignored_instances = InstanceData(
                bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
        else:
            raise NotImplementedError(f'default_scope {scope!r}: no '
                                      f'synthetic data for this task')
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def checksum(batch: dict) -> int:
    return int(sum(int(x.long().sum()) for x in batch['inputs']))


# ---------------------------------------------------------- measurements
def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def proc_status(field: str) -> int:
    """VmRSS / VmHWM of this process in bytes (0 where unavailable)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Make VmHWM the current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def summary(samples):
    samples = list(samples)
    if not samples:
        return None
    median = statistics.median(samples)
    return dict(
        median=median, min=min(samples), max=max(samples), n=len(samples),
        spread=(max(samples) - min(samples)) / median if median else 0.0)


def autocast_context(args, train_step=False):
    """--amp: bfloat16 autocast on CPU; float16 on CUDA, where a training
    step gets it from AmpOptimWrapper instead."""
    if not args.amp:
        return nullcontext()
    if args.device == 'cpu':
        return torch.autocast('cpu', dtype=torch.bfloat16)
    if train_step:
        return nullcontext()
    return torch.autocast('cuda', dtype=torch.float16)


def optim_cfg_for(cfg: Config, args) -> dict:
    optim = copy.deepcopy(dict(cfg.optim_wrapper))
    if args.constructor:
        optim['constructor'] = args.constructor
    elif 'constructor' not in optim:
        optim['constructor'] = 'PEFTOptimWrapperConstructor'
    if args.amp and args.device.startswith('cuda'):
        optim['type'] = 'AmpOptimWrapper'
        optim.setdefault('loss_scale', 'dynamic')
    return optim


@contextmanager
def count_warnings():
    """Counts WARNING records the current logger lets through."""
    logger = MMLogger.get_current_instance()

    class Counter(logging.Handler):

        def __init__(self):
            super().__init__(logging.WARNING)
            self.n = 0

        def emit(self, record):
            self.n += 1

    counter = Counter()
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)


def put(result, key, samples, scale=1.0):
    """Store wall-clock and CPU-time samples ((wall, cpu) pairs)."""
    for name, index in ((key, 0), (cpu_key(key), 1)):
        values = [scale * pair[index] for pair in samples]
        result[name + '_samples'] = values
        result[name] = summary(values)


class Clock:
    """Wall-clock time and this process's CPU time (all its threads): on a
    shared machine the CPU time of a single-threaded run does not count the
    time spent waiting for a core."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.elapsed = (time.perf_counter() - self.wall,
                        time.process_time() - self.cpu)
        return False


def backbone_blocks(backbone):
    spec = getattr(backbone, 'peft_spec', None)
    if spec is None:
        return []
    return [block for _, block in spec.blocks(backbone)]


def measure_training(model, cfg, args, result):
    from mmengine.optim import build_optim_wrapper
    device = args.device
    with count_warnings() as warnings:
        optim_wrapper = build_optim_wrapper(model, optim_cfg_for(cfg, args))
    held = [p for g in optim_wrapper.optimizer.param_groups
            for p in g['params']]
    result['optimizer_tensors'] = len(held)
    result['optimizer_params'] = sum(p.numel() for p in held)
    result['optimizer_warnings'] = warnings.n
    data = synthetic_batch(cfg, args.batch, args.shape, seed=args.seed)
    result['input_checksum'] = checksum(data)

    # Which backbone blocks carry autograd (recorded in the first step).
    blocks = backbone_blocks(model.backbone)
    carried = {}

    def record(index):

        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            carried[index] = bool(getattr(out, 'requires_grad', False))

        return hook

    handles = [b.register_forward_hook(record(i))
               for i, b in enumerate(blocks)]

    model.train()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_alloc = torch.cuda.memory_allocated()
    rss_before_steps = proc_status('VmRSS')
    hwm_reset = reset_peak_rss()
    times = []
    for step in range(args.warmup + args.iters):
        torch.manual_seed(args.seed + step)  # same dropout draws everywhere
        with Clock(device) as clock, autocast_context(args, True):
            log_vars = model.train_step(data, optim_wrapper)
        times.append(clock.elapsed)
        if step == 0:
            for handle in handles:
                handle.remove()
    loss = log_vars['loss']
    loss = float(loss.item() if torch.is_tensor(loss) else loss)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated()
        result['train_peak_mb'] = peak / MB
        result['train_step_extra_mb'] = (peak - base_alloc) / MB
        result['memory_measure'] = 'cuda max_memory_allocated'
    else:
        hwm = proc_status('VmHWM')
        start_rss = result.get('rss_start', 0)
        result['train_peak_mb'] = (hwm - start_rss) / MB if start_rss else None
        result['train_step_extra_mb'] = (hwm - rss_before_steps) / MB
        result['process_peak_rss_mb'] = hwm / MB
        result['memory_measure'] = (
            'peak RSS minus RSS before the model was built'
            + ('' if hwm_reset else ' (peak RSS could not be reset)'))
    result['train_loss'] = loss
    put(result, 'train_step_s', times[args.warmup:])
    result['train_warmup_s'] = [t[0] for t in times[:args.warmup]]
    result['blocks_with_autograd'] = sum(carried.values())
    result['blocks'] = len(blocks)
    optim_wrapper.zero_grad()
    del optim_wrapper


def preprocess(model, cfg, args, batch):
    data = synthetic_batch(cfg, batch, args.shape, seed=args.seed + 1)
    with torch.no_grad():
        return model.data_preprocessor(data, False)


def forward_tensor(model, data):
    return model(data['inputs'], data['data_samples'], mode='tensor')


def time_calls(fn, warmup, iters, device):
    times = []
    for _ in range(warmup + iters):
        with Clock(device) as clock:
            fn()
        times.append(clock.elapsed)
    return times[warmup:]


def measure_flops(model, cfg, args, result):
    from torch.utils.flop_counter import FlopCounterMode
    model.eval()
    single = preprocess(model, cfg, args, 1)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward_tensor(model, single)
    flops = counter.get_flop_counts()
    result['gflops'] = counter.get_total_flops() / 1e9
    result['backbone_gflops'] = sum(
        sum(v.values()) for k, v in flops.items()
        if k.count('.') == 1 and k.endswith('.backbone')) / 1e9
    result['adapter_gflops'] = sum(
        sum(v.values()) for k, v in flops.items()
        if re.search(r'\.adapters\.[^.]+$', k)) / 1e9


def measure_inference(model, cfg, args, result):
    model.eval()
    for name, batch in (('b1', 1), ('bN', args.infer_batch)):
        data = preprocess(model, cfg, args, batch)
        with torch.no_grad(), autocast_context(args):
            samples = time_calls(lambda: forward_tensor(model, data),
                                 args.warmup, args.infer_iters, args.device)
        put(result, f'infer_{name}_ms', samples, 1e3)
        del data


def interleaved_inference(cfg, args, rows: dict) -> None:
    """Inference latency of every distinct network, built side by side in
    this process and timed in turns (A B C A B C ...), so that a change in
    the machine's load hits all of them alike."""
    names = [n for n, row in rows.items() if needs_inference(row['kind'])]
    if not names:
        return
    models = {}
    for name in names:
        torch.manual_seed(args.seed)
        models[name] = build_model(cfg, parse_method(name), args.shape,
                                   args.device, args.adapter_options).eval()
    first = models[names[0]]
    for key, batch in (('b1', 1), ('bN', args.infer_batch)):
        data = preprocess(first, cfg, args, batch)
        samples = {name: [] for name in names}
        with torch.no_grad(), autocast_context(args):
            for turn in range(args.warmup + args.infer_iters):
                for name in names:
                    with Clock(args.device) as clock:
                        forward_tensor(models[name], data)
                    if turn >= args.warmup:
                        samples[name].append(clock.elapsed)
        for name in names:
            put(rows[name], f'infer_{key}_ms', samples[name], 1e3)
        del data
    models.clear()


def needs_inference(kind: str) -> bool:
    """floor and head run the full row's network at inference."""
    return kind in ('full', 'adapter')


def measure_adapters(model, cfg, args, result):
    """Replay every adapter call of one forward on inputs of its shapes."""
    from mmpeft.adapters.base import Adapter
    adapters = [m for m in model.modules() if isinstance(m, Adapter)]
    if not adapters:
        return
    calls = []

    def capture(module, inputs):
        x, hw_shape, prefix = inputs[0], inputs[1], (
            inputs[2] if len(inputs) > 2 else 0)
        calls.append((module, tuple(x.shape[1:]), tuple(hw_shape), prefix))

    handles = [a.register_forward_pre_hook(capture) for a in adapters]
    model.eval()
    with torch.no_grad():
        forward_tensor(model, preprocess(model, cfg, args, 1))
    for handle in handles:
        handle.remove()
    gen = torch.Generator(device='cpu').manual_seed(args.seed)
    cache = {}

    def tensor(batch, shape):
        key = (batch, shape)
        if key not in cache:
            cache[key] = torch.randn((batch, ) + shape,
                                     generator=gen).to(args.device)
        return cache[key]

    def run_infer(batch):

        def fn():
            with torch.no_grad(), autocast_context(args):
                for module, shape, hw, prefix in calls:
                    module(tensor(batch, shape), hw, prefix)

        return fn

    def run_train():
        for module, shape, hw, prefix in calls:
            tensor(args.batch, shape)
        grads = {}

        def fn():
            for module, shape, hw, prefix in calls:
                x = tensor(args.batch, shape).detach().requires_grad_()
                with autocast_context(args):
                    out = module(x, hw, prefix)
                key = tuple(out.shape)
                if key not in grads:
                    grads[key] = torch.randn(out.shape, generator=gen).to(
                        out.device, out.dtype)
                out.backward(grads[key])

        return fn

    for module in adapters:
        module.eval()
    for name, batch in (('b1', 1), ('bN', args.infer_batch)):
        samples = time_calls(run_infer(batch), args.warmup, args.infer_iters,
                             args.device)
        put(result, f'adapters_infer_{name}_ms', samples, 1e3)
    cache.clear()
    for module in adapters:
        module.train()
    samples = time_calls(run_train(), args.warmup, args.iters, args.device)
    put(result, 'adapters_train_ms', samples, 1e3)
    result['adapter_calls'] = len(calls)
    model.zero_grad(set_to_none=True)


def run_method(cfg: Config, args, name: str) -> dict:
    from mmpeft.models import model_param_report
    method = parse_method(name)
    result = dict(method=name, kind=method['kind'],
                  adapter=method.get('adapter'),
                  adapter_blocks=method.get('adapter_blocks'),
                  rss_start=proc_status('VmRSS'))
    torch.manual_seed(args.seed)
    model = build_model(cfg, method, args.shape, args.device,
                        args.adapter_options)
    report = model_param_report(model)
    total = sum(p.numel() for p in model.parameters())
    result.update(
        params=total,
        trainable_params=sum(p.numel() for p in model.parameters()
                             if p.requires_grad),
        backbone_params=report['backbone_params'],
        adapter_params=report['adapter_params'],
        weights_mb=sum(t.numel() * t.element_size()
                       for t in list(model.parameters()) +
                       list(model.buffers())) / MB)
    if not args.skip_training:
        measure_training(model, cfg, args, result)
    if needs_inference(method['kind']) and not args.skip_inference:
        measure_flops(model, cfg, args, result)
        if args.inference == 'separate':
            measure_inference(model, cfg, args, result)
        measure_adapters(model, cfg, args, result)
    result['rss_start_mb'] = result.pop('rss_start') / MB
    del model
    return result


# ------------------------------------------------------------- reporting
def median_of(row, key):
    value = row.get(key)
    if isinstance(value, dict):
        return value['median']
    return value


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def add_ratios(rows: dict) -> None:
    """Ratios to full fine-tuning, the floor, head only, the plain model (the
    full row at inference) and AdaptFormer in every block; for wall-clock
    and CPU-time keys alike."""
    full = rows.get('full', {})
    floor = rows.get('floor', {})
    head = rows.get('head', rows.get('frozen', {}))
    adaptformers = [r for r in rows.values() if r.get('adapter') ==
                    'AdaptFormer' and r.get('adapter_blocks') == 'all']
    adaptformer = adaptformers[0] if adaptformers else {}
    for row in rows.values():
        r = {}
        for key in ('train_step_s', cpu_key('train_step_s'),
                    'train_peak_mb'):
            for ref_name, ref in (('full', full), ('floor', floor),
                                  ('head', head)):
                r[f'{key}_vs_{ref_name}'] = ratio(median_of(row, key),
                                                  median_of(ref, key))
        for key in ('infer_b1_ms', 'infer_bN_ms'):
            for k in (key, cpu_key(key)):
                r[f'{k}_vs_plain'] = ratio(median_of(row, k),
                                           median_of(full, k))
        for key in ('gflops', 'backbone_gflops', 'params'):
            r[f'{key}_vs_plain'] = ratio(row.get(key), full.get(key))
        for key in ('adapters_train_ms', 'adapters_infer_b1_ms',
                    'adapters_infer_bN_ms'):
            for k in (key, cpu_key(key)):
                r[f'{k}_vs_adaptformer'] = ratio(median_of(row, k),
                                                 median_of(adaptformer, k))
        # Where training time lies between head only (0) and the floor (1):
        # how much of the back-propagation through the backbone remains.
        for key in ('train_step_s', cpu_key('train_step_s')):
            t, lo, hi = (median_of(row, key), median_of(head, key),
                         median_of(floor, key))
            r[f'{key}_head_to_floor'] = (
                (t - lo) / (hi - lo)
                if None not in (t, lo, hi) and hi != lo else None)
        row['ratios'] = r


def fmt(value, spec='.2f', none='-'):
    if value is None:
        return none
    return format(value, spec)


def fmt_ratio(value):
    return '' if value is None else f' ({value:.2f}x)'


def format_table(report: dict, clock: str = 'wall') -> str:
    """A Markdown table; times from the wall clock or CPU time."""
    rows = report['methods']
    settings = report['settings']
    nb = settings['infer_batch']

    def k(key):
        return key if clock == 'wall' else cpu_key(key)

    def timed(row, key, spec, none):
        value = row.get(k(key))
        if not value:
            return none
        return (f"{format(value['median'], spec)} "
                f"+-{50 * value['spread']:.0f}%")

    header = ['method', 'trainable', 'GFLOPs', 'train s/step', 'x full',
              'x floor', 'peak MB', 'x full', 'x floor', 'autograd blocks',
              'infer b1 ms', 'x plain', f'infer b{nb} ms', 'x plain',
              'adapters train ms', f'adapters b{nb} ms',
              'adapters x AdaptFormer (train, infer)']
    lines = []
    for name, row in rows.items():
        r = row['ratios']
        same = '= full' if row['kind'] in ('floor', 'head') else '-'
        lines.append([
            name,
            f"{row['trainable_params']:,}",
            fmt(row.get('gflops'), '.4g', same),
            timed(row, 'train_step_s', '.3f', '-'),
            fmt(r[k('train_step_s') + '_vs_full']),
            fmt(r[k('train_step_s') + '_vs_floor']),
            fmt(row.get('train_peak_mb'), '.0f'),
            fmt(r['train_peak_mb_vs_full']),
            fmt(r['train_peak_mb_vs_floor']),
            f"{row.get('blocks_with_autograd', '-')}/{row.get('blocks', '-')}",
            timed(row, 'infer_b1_ms', '.1f', same),
            fmt(r[k('infer_b1_ms') + '_vs_plain'], '.3f', same),
            timed(row, 'infer_bN_ms', '.1f', same),
            fmt(r[k('infer_bN_ms') + '_vs_plain'], '.3f', same),
            timed(row, 'adapters_train_ms', '.1f', '-'),
            timed(row, 'adapters_infer_bN_ms', '.1f', '-'),
            (f"{fmt(r[k('adapters_train_ms') + '_vs_adaptformer'])}, "
             f"{fmt(r[k('adapters_infer_bN_ms') + '_vs_adaptformer'])}"
             if row.get('adapters_train_ms') else '-'),
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines))
              for i, h in enumerate(header)]
    out = ['| ' + ' | '.join(h.ljust(w) for h, w in zip(header, widths)) +
           ' |', '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    for line in lines:
        out.append('| ' + ' | '.join(c.ljust(w)
                                     for c, w in zip(line, widths)) + ' |')
    machine = report['machine']
    clock_desc = ('wall clock' if clock == 'wall' else
                  'CPU time of the process, all threads')
    notes = [
        f"config: {report['config']}",
        f"device: {settings['device']} ({machine['device_name']}), threads "
        f"{settings['threads']}, training batch {settings['batch']}, "
        f"inference batch 1 and {nb}, shape "
        f"{settings['shape'][0]}x{settings['shape'][1]}, amp "
        f"{settings['amp']}, isolation {settings['isolation']}, inference "
        f"{settings.get('inference')}, rounds "
        f"{settings['rounds']}, warm-up {settings['warmup']}, timed "
        f"{settings['iters']} steps / {settings['infer_iters']} inference "
        f"runs; load average at the end {machine.get('load_average')}",
        f'times: {clock_desc}, medians; +-: half the (max - min) spread of '
        'the '
        'timed repetitions. x plain: the full row, i.e. the upstream model '
        'without adapters. peak MB: ' + next(
            (row['memory_measure'] for row in rows.values()
             if row.get('memory_measure')), '-'),
    ]
    return '\n'.join(out + [''] + notes)


# -------------------------------------------------------------- driver
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file (or mmseg::..., '
                        'mmpretrain::... of an upstream package)')
    parser.add_argument('--methods', default=DEFAULT_METHODS,
                        help='comma-separated: full, floor, head (frozen), '
                        'an adapter name, <adapter>@lastN')
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
                        'CUDA, bfloat16 autocast on CPU')
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
    if not args.shape:
        args.shape = default_shape(cfg)
    args.shape = tuple(args.shape)
    return cfg


def setup_process(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    logger = MMLogger.get_instance('mmpeft-benchmark', log_level='WARNING')
    logger.setLevel(logging.WARNING)
    for handler in logger.handlers:
        handler.setLevel(logging.WARNING)
    import mmpeft  # noqa: F401 (registers the wrappers, adapters, engine)


def worker(args):
    if args.inference is None:
        args.inference = 'separate'
    setup_process(args)
    cfg = load_config(args)
    result = run_method(cfg, args, args.worker)
    with open(args.worker_out, 'w') as f:
        json.dump(result, f)


def _forked_worker(cfg, args, name, out):
    try:
        result = run_method(cfg, args, name)
        with open(out, 'w') as f:
            json.dump(result, f)
    except BaseException:
        import traceback
        with open(out + '.err', 'w') as f:
            f.write(traceback.format_exc())
        raise


def run_isolated(cfg, args, argv, name):
    """One fresh process per method: forked from this one where the
    platform allows (no second import of the OpenMMLab stack), else a new
    interpreter."""
    import multiprocessing
    if 'fork' not in multiprocessing.get_all_start_methods():
        return run_in_subprocess(args, argv, name)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'result.json')
        proc = multiprocessing.get_context('fork').Process(
            target=_forked_worker, args=(cfg, args, name, out))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or not os.path.exists(out):
            error = ''
            if os.path.exists(out + '.err'):
                with open(out + '.err') as f:
                    error = f.read()
            raise RuntimeError(f'method {name!r} failed (exit code '
                               f'{proc.exitcode}):\n{error[-4000:]}')
        with open(out) as f:
            return json.load(f)


def run_in_subprocess(args, argv, name):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'result.json')
        cmd = [sys.executable, os.path.abspath(__file__)] + list(argv) + [
            '--worker', name, '--worker-out', out, '--isolation', 'process',
            '--inference', args.inference]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f'method {name!r} failed:\n'
                               f'{proc.stderr[-4000:]}')
        with open(out) as f:
            return json.load(f)


def pool_rounds(results):
    """One row from the per-round results of a method."""
    if len(results) == 1:
        return results[0]
    row = dict(results[0])
    row['rounds'] = results
    for key in ALL_TIMED:
        pooled = [s for r in results for s in r.get(key + '_samples', [])]
        if pooled:
            row[key + '_samples'] = pooled
            row[key] = summary(pooled)
    for key in ('train_peak_mb', 'train_step_extra_mb'):
        values = [r[key] for r in results if r.get(key) is not None]
        if values:
            row[key] = statistics.median(values)
            row[key + '_rounds'] = values
    return row


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.inference is None:
        args.inference = 'interleaved'
    setup_process(args)
    cfg = load_config(args)
    names = [n.strip() for n in args.methods.split(',') if n.strip()]
    for name in names:
        parse_method(name)  # fail before any measurement
    per_method = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names:
            print(f'[benchmark] round {round_index + 1}/{args.rounds}: '
                  f'{name}', file=sys.stderr, flush=True)
            if args.isolation == 'process':
                result = run_isolated(cfg, args, argv, name)
            else:
                result = run_method(cfg, args, name)
            per_method[name].append(result)
    rows = {name: pool_rounds(results) for name, results in per_method.items()}
    if args.inference == 'interleaved' and not args.skip_inference:
        print('[benchmark] inference, all networks in turns',
              file=sys.stderr, flush=True)
        interleaved_inference(cfg, args, rows)
    add_ratios(rows)
    device_name = (torch.cuda.get_device_name(args.device)
                   if args.device.startswith('cuda') else
                   cpu_name())
    report = dict(
        config=args.config,
        settings=dict(
            methods=names, batch=args.batch, infer_batch=args.infer_batch,
            shape=list(args.shape), device=args.device, amp=args.amp,
            threads=args.threads or torch.get_num_threads(),
            isolation=args.isolation, rounds=args.rounds,
            inference=args.inference,
            warmup=args.warmup, iters=args.iters,
            infer_iters=args.infer_iters, seed=args.seed,
            cfg_options=args.cfg_options and {
                k: repr(v) for k, v in args.cfg_options.items()},
            adapter_options=dict(args.adapter_options)),
        machine=dict(device_name=device_name, cpu_count=os.cpu_count(),
                     torch=torch.__version__,
                     load_average=(list(os.getloadavg())
                                   if hasattr(os, 'getloadavg') else None)),
        methods=rows)
    text = json.dumps(report, indent=1, default=str)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    print(text if args.json else format_table(report, args.clock))
    return report


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or 'cpu'


if __name__ == '__main__':
    main()
