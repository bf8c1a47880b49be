"""Training hooks that keep long runs from failing late or silently."""
import math

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop at the first non-finite loss, naming the iteration and the term.

    Runs before the checkpoint hook, so the weights updated from a NaN or
    Inf loss are never saved and the last good checkpoint stays the latest.
    """
    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        for name, value in (outputs or {}).items():
            number = value.item() if isinstance(value,
                                                torch.Tensor) else value
            if isinstance(number, float) and not math.isfinite(number):
                raise FloatingPointError(
                    f'non-finite loss at iteration {runner.iter + 1}: '
                    f'{name} = {number}; training stopped, the last '
                    f'checkpoint in {runner.work_dir} is the last good one')
