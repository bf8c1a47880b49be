"""The measurements of one method: a training step and its peak memory,
the blocks that carry autograd, inference latency and GFLOPs."""
import copy
import re
from contextlib import nullcontext

import torch
from mmengine.config import Config

from .adapters_alone import measure_adapters
from .config_surgery import build_model
from .methods import parse_method
from .synthetic import checksum, synthetic_batch
from .timing import (MB, Clock, count_warnings, proc_status, put,
                     reset_peak_rss, time_calls)


def autocast_context(args):
    """--amp at inference: bfloat16 autocast on CPU, float16 on CUDA (a
    training step gets it from its optimizer wrapper, optim_cfg_for)."""
    if not args.amp:
        return nullcontext()
    if args.device == 'cpu':
        return torch.autocast('cpu', dtype=torch.bfloat16)
    return torch.autocast('cuda', dtype=torch.float16)


def optim_cfg_for(cfg: Config, args) -> dict:
    """The config's optimizer wrapper; with --amp, AmpOptimWrapper (fp16)
    on CUDA, BF16AmpOptimWrapper on CPU (AmpOptimWrapper refuses CPUs)."""
    optim = copy.deepcopy(dict(cfg.optim_wrapper))
    if args.constructor:
        optim['constructor'] = args.constructor
    elif 'constructor' not in optim:
        optim['constructor'] = 'PEFTOptimWrapperConstructor'
    if args.amp and args.device.startswith('cuda'):
        optim['type'] = 'AmpOptimWrapper'
        optim.setdefault('loss_scale', 'dynamic')
    elif args.amp:
        optim['type'] = 'BF16AmpOptimWrapper'
    return optim


def backbone_blocks(backbone):
    spec = getattr(backbone, 'peft_spec', None)
    if spec is None:
        return []
    return [block for _, block in spec.blocks(backbone)]


def needs_inference(row: dict) -> bool:
    """floor and head run the full row's network at inference (unless their
    frozen weights are stored in another dtype)."""
    return row['kind'] in ('full', 'adapter') or bool(row.get('frozen_dtype'))


class AutogradRecorder:
    """Which backbone blocks' outputs carry autograd, in one forward."""

    def __init__(self, blocks):
        self.carried = {}
        self.handles = [b.register_forward_hook(self.hook(i))
                        for i, b in enumerate(blocks)]

    def hook(self, index):

        def record(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            self.carried[index] = bool(getattr(out, 'requires_grad', False))

        return record

    def remove(self):
        for handle in self.handles:
            handle.remove()


def _training_memory(result, device, base_alloc, rss_before_steps,
                     hwm_reset):
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated()
        result['train_peak_mb'] = peak / MB
        result['train_step_extra_mb'] = (peak - base_alloc) / MB
        result['memory_measure'] = 'cuda max_memory_allocated'
        return
    hwm = proc_status('VmHWM')
    start_rss = result.get('rss_start', 0)
    result['train_peak_mb'] = (hwm - start_rss) / MB if start_rss else None
    result['train_step_extra_mb'] = (hwm - rss_before_steps) / MB
    result['process_peak_rss_mb'] = hwm / MB
    result['memory_measure'] = (
        'peak RSS minus RSS before the model was built'
        + ('' if hwm_reset else ' (peak RSS could not be reset)'))


def train_step(model, data, optim_wrapper, batch: int):
    try:
        return model.train_step(data, optim_wrapper)
    except ValueError as error:
        if 'more than 1 value per channel' not in str(error):
            raise
        raise ValueError(f'--batch {batch}: a BatchNorm layer of the model '
                         f'(the heads\' SyncBN becomes BN on one process) '
                         f'sees a single value per channel; use --batch 2 '
                         f'or more') from error


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
    blocks = backbone_blocks(model.backbone)
    recorder = AutogradRecorder(blocks)  # in the first step only

    model.train()
    base_alloc = 0
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_alloc = torch.cuda.memory_allocated()
    rss_before_steps = proc_status('VmRSS')
    hwm_reset = reset_peak_rss()
    times = []
    for step in range(args.warmup + args.iters):
        torch.manual_seed(args.seed + step)  # same dropout draws everywhere
        with Clock(device) as clock:
            log_vars = train_step(model, data, optim_wrapper, args.batch)
        times.append(clock.elapsed)
        if step == 0:
            recorder.remove()
    _training_memory(result, device, base_alloc, rss_before_steps, hwm_reset)
    loss = log_vars['loss']
    result['train_loss'] = float(loss.item() if torch.is_tensor(loss)
                                 else loss)
    put(result, 'train_step_s', times[args.warmup:])
    result['train_warmup_s'] = [t[0] for t in times[:args.warmup]]
    result['blocks_with_autograd'] = sum(recorder.carried.values())
    result['blocks'] = len(blocks)
    optim_wrapper.zero_grad()


def preprocess(model, cfg, args, batch):
    data = synthetic_batch(cfg, batch, args.shape, seed=args.seed + 1)
    with torch.no_grad():
        return model.data_preprocessor(data, False)


def forward_tensor(model, data):
    return model(data['inputs'], data['data_samples'], mode='tensor')


def measure_flops(model, cfg, args, result):
    from torch.utils.flop_counter import FlopCounterMode
    model.eval()
    single = preprocess(model, cfg, args, 1)
    # The counter's module tracker fails on views of parameters that
    # require grad made under no_grad (VPT's expanded prompts): count with
    # every flag off.
    trainable = [p for p in model.parameters() if p.requires_grad]
    for param in trainable:
        param.requires_grad_(False)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward_tensor(model, single)
    finally:
        for param in trainable:
            param.requires_grad_(True)
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
    names = [n for n, row in rows.items() if needs_inference(row)]
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


def _param_counts(model) -> dict:
    from mmpeft.models import model_param_report
    report = model_param_report(model)
    return dict(
        params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters()
                             if p.requires_grad),
        backbone_params=report['backbone_params'],
        adapter_params=report['adapter_params'],
        weights_mb=sum(t.numel() * t.element_size()
                       for t in list(model.parameters()) +
                       list(model.buffers())) / MB)


def run_method(cfg: Config, args, name: str) -> dict:
    method = parse_method(name)
    result = dict(method=name, kind=method['kind'],
                  adapter=method.get('adapter'),
                  adapter_blocks=method.get('adapter_blocks'),
                  frozen_dtype=method.get('frozen_dtype'),
                  with_cp=method.get('with_cp'),
                  rss_start=proc_status('VmRSS'))
    torch.manual_seed(args.seed)
    model = build_model(cfg, method, args.shape, args.device,
                        args.adapter_options)
    result.update(_param_counts(model))
    if not args.skip_training:
        measure_training(model, cfg, args, result)
    if needs_inference(result) and not args.skip_inference:
        measure_flops(model, cfg, args, result)
        if args.inference == 'separate':
            measure_inference(model, cfg, args, result)
        measure_adapters(model, preprocess(model, cfg, args, 1), args,
                         result, lambda: autocast_context(args))
    result['rss_start_mb'] = result.pop('rss_start') / MB
    del model
    return result
