from .adaptformer import AdaptFormer
from .base import ADAPTERS, Adapter
from .convpass import Convpass
from .iconformer import iConFormer

__all__ = ['ADAPTERS', 'Adapter', 'AdaptFormer', 'Convpass', 'iConFormer']
