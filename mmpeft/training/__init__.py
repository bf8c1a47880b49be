from .atomic_backend import AtomicLocalBackend
from .hooks import NonFiniteLossHook

__all__ = ['AtomicLocalBackend', 'NonFiniteLossHook']
