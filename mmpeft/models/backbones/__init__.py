from .peft_backbone import WRAPPER_OPTIONS, BackboneSpec, PEFTBackboneMixin
from .registered import (CLS_VIT, EVA02, SEG_VIT, SWIN, ClsPEFTViTEVA02, ClsPEFTSwinTransformer,
                         ClsPEFTVisionTransformer, DetPEFTSwinTransformer,
                         SegPEFTSwinTransformer, SegPEFTVisionTransformer,
                         check_adapter_hosts, describe_wrappers, spec_of,
                         upstream_type_of, wrapper_table, wrapper_type_of)

__all__ = [
    'BackboneSpec', 'PEFTBackboneMixin', 'WRAPPER_OPTIONS', 'SWIN', 'SEG_VIT',
    'CLS_VIT', 'EVA02', 'ClsPEFTViTEVA02', 'spec_of',
    'SegPEFTSwinTransformer', 'DetPEFTSwinTransformer',
    'ClsPEFTSwinTransformer', 'SegPEFTVisionTransformer',
    'ClsPEFTVisionTransformer', 'check_adapter_hosts', 'describe_wrappers',
    'upstream_type_of', 'wrapper_table', 'wrapper_type_of'
]
