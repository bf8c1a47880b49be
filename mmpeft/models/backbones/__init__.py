from .peft_backbone import WRAPPER_OPTIONS, BackboneSpec, PEFTBackboneMixin
from .registered import (CLS_VIT, SEG_VIT, SWIN, ClsPEFTSwinTransformer,
                         ClsPEFTVisionTransformer, DetPEFTSwinTransformer,
                         SegPEFTSwinTransformer, SegPEFTVisionTransformer,
                         check_adapter_hosts)

__all__ = [
    'BackboneSpec', 'PEFTBackboneMixin', 'WRAPPER_OPTIONS', 'SWIN', 'SEG_VIT',
    'CLS_VIT',
    'SegPEFTSwinTransformer', 'DetPEFTSwinTransformer',
    'ClsPEFTSwinTransformer', 'SegPEFTVisionTransformer',
    'ClsPEFTVisionTransformer', 'check_adapter_hosts'
]
