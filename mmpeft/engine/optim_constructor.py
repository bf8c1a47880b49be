"""An optimizer-wrapper constructor that hands the optimizer only the
parameters that train.

mmengine's ``DefaultOptimWrapperConstructor`` handles frozen parameters in
one of two ways, both unwelcome when almost the whole model is frozen:

* with a ``paramwise_cfg`` (every Swin and ViT config of mmseg has one) it
  skips them, logging one WARNING per frozen parameter: 300+ lines for a
  frozen Swin-B;
* without one it gives ``model.parameters()``, frozen ones included, to the
  optimizer, which then carries and iterates over ~100M parameters it never
  updates.

``PEFTOptimWrapperConstructor`` is the default constructor (the same
param-wise rules, the same optimizer and wrapper) with frozen parameters
left out silently in both cases, and one INFO line that counts what was
left out. In a config::

    optim_wrapper = dict(constructor='PEFTOptimWrapperConstructor')

Parameters frozen at construction never enter the optimizer, so a schedule
that unfreezes parameters later needs the default constructor.
"""
import inspect
import logging
from contextlib import contextmanager

import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                               OPTIMIZERS)

SKIP_MESSAGE = 'is skipped since its requires_grad=False'


class _DropFrozenSkips(logging.Filter):
    """Drops the per-parameter 'is skipped' warnings of the default
    constructor and counts them."""

    def __init__(self):
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if SKIP_MESSAGE in record.getMessage():
            self.dropped += 1
            return False
        return True


@contextmanager
def _without_frozen_skip_warnings():
    logger = MMLogger.get_current_instance()
    skip_filter = _DropFrozenSkips()
    logger.addFilter(skip_filter)
    try:
        yield skip_filter
    finally:
        logger.removeFilter(skip_filter)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class PEFTOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` that leaves frozen parameters out of
    the optimizer, quietly. Same arguments as the default constructor."""

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cls = self.optimizer_cfg['type']
        if isinstance(optimizer_cls, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_cls = registry.get(self.optimizer_cfg['type'])
        first_arg = next(iter(inspect.signature(optimizer_cls).parameters))
        if not self.paramwise_cfg:
            params = [p for p in model.parameters() if p.requires_grad]
        else:
            params = []
            with _without_frozen_skip_warnings():
                self.add_params(params, model)
        optimizer_cfg[first_arg] = params
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        frozen = [p for p in model.parameters() if not p.requires_grad]
        print_log(
            f'{type(self).__name__}: {len(frozen)} frozen parameter tensors '
            f'({sum(p.numel() for p in frozen):,} values) left out of the '
            f'optimizer', logger='current')
        return OPTIM_WRAPPERS.build(
            optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
