"""Training-side pieces: the optimizer-wrapper constructor for PEFT, the
non-finite loss hook, the atomic checkpoint backend and bfloat16 mixed
precision on any device."""
from .amp import BF16AmpOptimWrapper
from .atomic_backend import AtomicLocalBackend
from .hooks import NonFiniteLossHook
from .optim_constructor import PEFTOptimWrapperConstructor

__all__ = [
    'AtomicLocalBackend', 'BF16AmpOptimWrapper', 'NonFiniteLossHook',
    'PEFTOptimWrapperConstructor'
]
