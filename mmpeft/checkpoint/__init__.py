from .hook import PEFTCheckpointHook, load_peft_checkpoint
from .safetensors_file import load_safetensors, save_safetensors
from .state import (AdapterKeyMismatch, CheckpointError, check_adapter_keys,
                    check_base, describe_base, file_sha256, keep_trained,
                    trained_backbone_keys)

__all__ = [
    'AdapterKeyMismatch', 'CheckpointError', 'PEFTCheckpointHook',
    'load_peft_checkpoint', 'check_adapter_keys', 'check_base',
    'describe_base', 'file_sha256', 'keep_trained', 'load_safetensors',
    'save_safetensors', 'trained_backbone_keys'
]
