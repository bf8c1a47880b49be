_base_ = [
    'mmseg::swin/swin-base-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py',  # noqa
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='PEFTSwinTransformer',
        tuning='partial',
        partial_blocks=1))
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
