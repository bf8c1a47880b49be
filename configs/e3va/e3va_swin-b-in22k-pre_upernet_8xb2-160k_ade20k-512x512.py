_base_ = [
    'mmseg::swin/swin-base-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py',  # noqa
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
# E3VA: adapters on a side path beside the frozen blocks, joining the
# decoder through the stage output norms, which train (the paper's
# "trainable norm"); no gradient passes through the frozen blocks.
model = dict(
    backbone=dict(
        type='PEFTSwinTransformer',
        adapter=dict(type='E3VA', bottleneck=24),
        extra_trainable=[r'^norm\d\.']))
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
