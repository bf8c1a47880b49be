from . import compat  # noqa: F401 (applied on import)
from . import datasets  # noqa: F401 (registers the demo datasets)
from . import engine  # noqa: F401 (registers PEFTOptimWrapperConstructor)
from .adapters import ADAPTERS, AdaptFormer, Convpass, iConFormer
from .checkpoint import PEFTCheckpointHook
from .models import model_param_report
from .training import AtomicLocalBackend, NonFiniteLossHook
from .version import __version__

__all__ = [
    '__version__', 'ADAPTERS', 'AdaptFormer', 'Convpass', 'iConFormer',
    'model_param_report', 'PEFTCheckpointHook', 'AtomicLocalBackend',
    'NonFiniteLossHook'
]
