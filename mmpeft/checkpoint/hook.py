"""Checkpoint hook for PEFT models: adapter-only saving, base-weight checks
and strict adapter keys on load."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from ..adapters.base import is_adapter_key
from .state import (BACKBONE_PREFIX, check_adapter_keys, check_base,
                    keep_trained, peft_backbone, trained_backbone_keys,
                    unwrap)


@HOOKS.register_module()
class PEFTCheckpointHook(Hook):
    """Save what was trained; load it back onto the right base weights.

    On save, ``meta['peft']`` records the base weights (source and sha256)
    and the trained backbone keys; with ``adapter_only=True`` the frozen
    backbone weights are left out of the file. On load (resume, ``load_from``,
    tools/test.py), a checkpoint written by a PEFT model must carry exactly
    the model's adapter keys; an adapter-only one also needs the base
    weights: if the backbone has not loaded them yet (testing skips
    ``init_weights``), it loads them from its ``init_cfg`` now, checks the
    hash and fills in the frozen entries, so the model loads completely.

    Args:
        adapter_only (bool): Leave the frozen backbone out of saved
            checkpoints. Defaults to True.
    """
    priority = 'VERY_LOW'  # after other hooks have edited the checkpoint

    def __init__(self, adapter_only: bool = True):
        self.adapter_only = adapter_only

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        backbone = peft_backbone(runner.model)
        if backbone is None:
            return
        trained = trained_backbone_keys(runner.model)
        adapter_only = self.adapter_only and backbone.tuning != 'full'
        if adapter_only:
            checkpoint['state_dict'] = keep_trained(checkpoint['state_dict'],
                                                    trained)
        checkpoint.setdefault('meta', {})['peft'] = dict(
            adapter_only=adapter_only,
            base=backbone.base_weights,
            trained_backbone_keys=trained)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        load_peft_checkpoint(runner.model, checkpoint,
                             source=str(runner._load_from or ''))


def load_peft_checkpoint(model, checkpoint: dict, source: str = '') -> None:
    """Check a loaded checkpoint against a PEFT model and complete an
    adapter-only one with the base weights (in place)."""
    backbone = peft_backbone(model)
    state = checkpoint.get('state_dict', checkpoint)
    peft_meta = checkpoint.get('meta', {}).get('peft')
    if backbone is None or (peft_meta is None
                            and not any(map(is_adapter_key, state))):
        return
    model_state = unwrap(model).state_dict()
    check_adapter_keys(state, model_state, source)
    if not (peft_meta and peft_meta.get('adapter_only')):
        return
    if not backbone.base_loaded:
        print_log(f'loading the base backbone weights for {source}',
                  logger='current')
        backbone.init_weights()
        model_state = unwrap(model).state_dict()
    check_base(peft_meta.get('base', {}), backbone.base_weights, source)
    for key, value in model_state.items():
        if key.startswith(BACKBONE_PREFIX):
            state.setdefault(key, value)
