"""The cost of a model's adapters alone: every adapter call of one forward
is recorded (its arguments' shapes) and replayed on random inputs of those
shapes, so that adapter designs compare without the backbone's cost.

Every adapter kind is replayed: token adapters and E3VA's side adapters
(``adapter(x, hw_shape, prefix)``), LoRA (``adapter(x)``) and VPT's prompts
(``remove(insert(x))`` on the block's input: the prompts' own work; the
longer token sequence they cause inside the block is the backbone's cost).
"""
from contextlib import nullcontext

import torch

from .timing import put, time_calls


def adapter_modules(model):
    """The modules of ``model`` whose type is a registered adapter."""
    from mmpeft.adapters import ADAPTERS
    types = tuple(ADAPTERS.module_dict.values())
    return [m for m in model.modules() if isinstance(m, types)]


def _shape_or_value(arg):
    return ('tensor', tuple(arg.shape[1:])) if torch.is_tensor(arg) else arg


class CallRecorder:
    """(adapter, arguments) of every adapter call of a forward; tensors are
    kept as ('tensor', shape without the batch)."""

    def __init__(self, model):
        self.calls = []
        self.handles = []
        prompt_hosts = {}
        for name, module in model.named_modules():
            if getattr(module, 'attaches_to', None) == 'block':
                prompt_hosts[name.rsplit('.adapters.', 1)[0]] = module
        adapters = adapter_modules(model)
        for module in adapters:
            if getattr(module, 'attaches_to', None) != 'block':
                self.handles.append(
                    module.register_forward_pre_hook(self.forward_call))
        for name, module in model.named_modules():
            if name in prompt_hosts:
                # Before the prompts' own hook: the block's input as given.
                self.handles.append(module.register_forward_pre_hook(
                    self.prompt_call(prompt_hosts[name],
                                     self.prefix_tokens(model)),
                    prepend=True))

    @staticmethod
    def prefix_tokens(model) -> int:
        backbone = getattr(model, 'backbone', model)
        return backbone.peft_spec.num_prefix_tokens(backbone)

    def forward_call(self, module, args):
        self.calls.append((module, 'forward',
                           tuple(_shape_or_value(a) for a in args)))

    def prompt_call(self, adapter, prefix):

        def record(block, args):
            self.calls.append((adapter, 'prompts',
                               (_shape_or_value(args[0]), prefix)))

        return record

    def remove(self):
        for handle in self.handles:
            handle.remove()


def _replay(module, how, args):
    if how == 'prompts':
        x, prefix = args
        return module.remove(module.insert(x, prefix), prefix)
    return module(*args)


class Replayer:
    """Runs the recorded calls on cached random tensors."""

    def __init__(self, calls, args):
        self.calls = calls
        self.args = args
        self.gen = torch.Generator(device='cpu').manual_seed(args.seed)
        self.cache = {}

    def tensor(self, batch, shape):
        key = (batch, shape)
        if key not in self.cache:
            self.cache[key] = torch.randn(
                (batch, ) + shape, generator=self.gen).to(self.args.device)
        return self.cache[key]

    def arguments(self, batch, recorded, grad: bool):
        out = []
        for arg in recorded:
            if isinstance(arg, tuple) and arg and arg[0] == 'tensor':
                arg = self.tensor(batch, arg[1])
                if grad and not out:  # the features the adapter reads
                    arg = arg.detach().requires_grad_()
            out.append(arg)
        return out

    def infer(self, batch, autocast):

        def run():
            with torch.no_grad(), autocast():
                for module, how, recorded in self.calls:
                    _replay(module, how,
                            self.arguments(batch, recorded, False))

        return run

    def train(self, autocast):
        grads = {}

        def run():
            for module, how, recorded in self.calls:
                with autocast():
                    out = _replay(module, how, self.arguments(
                        self.args.batch, recorded, True))
                if tuple(out.shape) not in grads:
                    grads[tuple(out.shape)] = torch.randn(
                        out.shape, generator=self.gen).to(out.device,
                                                           out.dtype)
                out.backward(grads[tuple(out.shape)])

        return run


def measure_adapters(model, single_input: dict, args, result,
                     autocast=nullcontext) -> None:
    """Replay every adapter call of one forward on ``single_input`` (a
    preprocessed batch of one)."""
    adapters = adapter_modules(model)
    if not adapters:
        return
    recorder = CallRecorder(model)
    model.eval()
    with torch.no_grad():
        model(single_input['inputs'], single_input['data_samples'],
              mode='tensor')
    recorder.remove()
    replayer = Replayer(recorder.calls, args)
    for module in adapters:
        module.eval()
    for name, batch in (('b1', 1), ('bN', args.infer_batch)):
        samples = time_calls(replayer.infer(batch, autocast), args.warmup,
                             args.infer_iters, args.device)
        put(result, f'adapters_infer_{name}_ms', samples, 1e3)
    replayer.cache.clear()
    for module in adapters:
        module.train()
    samples = time_calls(replayer.train(autocast), args.warmup, args.iters,
                         args.device)
    put(result, 'adapters_train_ms', samples, 1e3)
    result['adapter_calls'] = len(recorder.calls)
    model.zero_grad(set_to_none=True)
