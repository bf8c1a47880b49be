"""Mixed precision in bfloat16 where mmengine's AmpOptimWrapper cannot be
built: it asserts a GPU (or NPU, MLU, MUSA) at construction, so a CPU run
cannot use it even with ``dtype='bfloat16'``.

``BF16AmpOptimWrapper`` is its training context on any device: the
forward runs under ``mmengine.runner.amp.autocast`` in bfloat16 on the
device of the model's parameters. bfloat16 keeps float32's exponent range,
so there is no loss scaling (the part of AmpOptimWrapper that needs
CUDA). In a config::

    optim_wrapper = dict(type='BF16AmpOptimWrapper', optimizer=...)

It works with ``frozen_dtype='bf16'`` backbones (the frozen weights are
already bfloat16 and are used without a cast).
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16AmpOptimWrapper(OptimWrapper):
    """An OptimWrapper whose ``optim_context`` adds bfloat16 autocast."""

    @contextmanager
    def optim_context(self, model: nn.Module):
        from mmengine.runner.amp import autocast
        device = next(model.parameters()).device.type
        with super().optim_context(model), autocast(device_type=device,
                                                    dtype=torch.bfloat16):
            yield
