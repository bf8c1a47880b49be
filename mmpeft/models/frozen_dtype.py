"""``frozen_dtype='bf16'``: the frozen backbone weights stored in bfloat16.

Storage: after freezing, every module of the backbone whose own parameters
are all frozen gets them cast to bfloat16; a module with any trainable
parameter (an adapter, a BitFit bias, an LN-tune norm) keeps all of its own
in float32, so no operation mixes a bf16 weight with an fp32 bias and the
optimizer only ever sees float32.

Compute: the backbone's forward runs under bfloat16 autocast on the input's
device (CPU included): matrix products and convolutions run in bf16 with
the stored weights as they are (no copy), the adapters' fp32 weights are
cast by autocast; the outputs are cast back to the input's dtype, so the
neck and heads run as before (or under the caller's own autocast / AMP).

Checkpoints: ``state_dict()`` gives the bf16 entries back as float32, so a
checkpoint keeps the upstream keys and dtypes and loads into a float32
model or plain upstream code unchanged; its values are the bf16-rounded
weights. Adapter-only checkpoints hold only trainable (fp32) weights and
are not affected. Loading a float32 checkpoint into a bf16 model rounds it.
"""
from typing import Optional

import torch
import torch.nn as nn

FROZEN_DTYPES = {'bf16': torch.bfloat16}


def check_frozen_dtype(frozen_dtype: Optional[str], tuning: str) -> None:
    if frozen_dtype is None:
        return
    if frozen_dtype not in FROZEN_DTYPES:
        raise ValueError(f'frozen_dtype: unknown dtype {frozen_dtype!r}; '
                         f'allowed: None, {sorted(FROZEN_DTYPES)}')
    if tuning == 'full':
        raise ValueError(f'frozen_dtype={frozen_dtype!r} stores the frozen '
                         f"weights, and tuning='full' freezes none")


def store_frozen(backbone: nn.Module, frozen_dtype: str) -> None:
    """Cast the parameters of fully frozen modules to ``frozen_dtype`` and
    make ``state_dict()`` return them as float32."""
    dtype = FROZEN_DTYPES[frozen_dtype]
    for module in backbone.modules():
        own = list(module.parameters(recurse=False))
        if own and not any(p.requires_grad for p in own):
            for param in own:
                if param.is_floating_point():
                    param.data = param.data.to(dtype)
    backbone._register_state_dict_hook(float32_state)


def float32_state(module, state_dict, prefix, local_metadata):
    for key, value in state_dict.items():
        if key.startswith(prefix) and value.dtype == torch.bfloat16:
            state_dict[key] = value.float()
    return state_dict


def _cast_back(outputs, dtype):
    if torch.is_tensor(outputs):
        return outputs.to(dtype) if outputs.is_floating_point() else outputs
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_cast_back(o, dtype) for o in outputs)
    return outputs


def forward_in_frozen_dtype(forward, frozen_dtype: str, x, *args, **kwargs):
    """``forward(x, ...)`` under autocast to ``frozen_dtype``, outputs in
    the dtype of ``x``."""
    with torch.autocast(x.device.type, dtype=FROZEN_DTYPES[frozen_dtype]):
        outputs = forward(x, *args, **kwargs)
    return _cast_back(outputs, x.dtype)
