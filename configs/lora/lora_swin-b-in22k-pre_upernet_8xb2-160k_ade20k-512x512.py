_base_ = [
    'mmseg::swin/swin-base-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py',  # noqa
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
# LoRA on q and v (the paper's targets) at rank 64: the trainable budget
# of V-PETL Bench's LoRA row on Swin-B (see README.md).
model = dict(
    backbone=dict(
        type='PEFTSwinTransformer',
        adapter=dict(type='LoRA', rank=64, alpha=64)))
# mmpeft's run-time safety: checkpoints keep what trains (plus the base
# weights' hash) and are written atomically; training stops at the first
# non-finite loss.
custom_hooks = [
    dict(type='PEFTCheckpointHook'),
    dict(type='NonFiniteLossHook')
]
default_hooks = dict(
    checkpoint=dict(backend_args=dict(backend='atomic_local')))
# The optimizer holds only the parameters that train.
optim_wrapper = dict(constructor='PEFTOptimWrapperConstructor')
