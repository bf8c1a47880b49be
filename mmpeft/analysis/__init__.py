"""Analysis utilities (attention rollout)."""
from .attention_rollout import (AttentionRecorder, attention_rollout,
                                swin_rollout, upsample_map, vit_rollout)

__all__ = [
    'AttentionRecorder', 'attention_rollout', 'swin_rollout', 'upsample_map',
    'vit_rollout'
]
