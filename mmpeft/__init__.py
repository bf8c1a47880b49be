from . import compat  # noqa: F401 (applied on import)
from . import datasets  # noqa: F401 (registers the demo datasets)
from .adapters import ADAPTERS, AdaptFormer, Convpass, iConFormer
from .checkpoint import PEFTCheckpointHook
from .engine import (AtomicLocalBackend, NonFiniteLossHook,
                     PEFTOptimWrapperConstructor)
from .models import model_param_report
from .version import __version__

__all__ = [
    '__version__', 'ADAPTERS', 'AdaptFormer', 'Convpass', 'iConFormer',
    'model_param_report', 'PEFTCheckpointHook', 'AtomicLocalBackend',
    'NonFiniteLossHook', 'PEFTOptimWrapperConstructor'
]
