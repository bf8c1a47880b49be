from .adaptformer import AdaptFormer
from .base import ADAPTERS, Adapter
from .convpass import Convpass
from .e3va import E3VA  # noqa: F401 (registers the side-path kind)
from .houlsby import HoulsbyAdapter
from .iconformer import iConFormer
from .lora import LoRA, merge_lora
from .mona import Mona
from .vpt import VPTDeep

__all__ = [
    'ADAPTERS', 'Adapter', 'AdaptFormer', 'Convpass', 'iConFormer',
    'HoulsbyAdapter', 'LoRA', 'merge_lora', 'Mona', 'VPTDeep'
]
