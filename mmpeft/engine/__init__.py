"""Training-side pieces: the optimizer-wrapper constructor for PEFT, the
non-finite loss hook and the atomic checkpoint backend."""
from .atomic_backend import AtomicLocalBackend
from .hooks import NonFiniteLossHook
from .optim_constructor import PEFTOptimWrapperConstructor

__all__ = [
    'AtomicLocalBackend', 'NonFiniteLossHook', 'PEFTOptimWrapperConstructor'
]
