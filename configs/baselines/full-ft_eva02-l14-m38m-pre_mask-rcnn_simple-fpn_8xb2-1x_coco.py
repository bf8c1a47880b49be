_base_ = ['../_base_/detection/mask-rcnn_eva02-l14-m38m-pre_simple-fpn_1x_coco.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='mmpretrain.PEFTViTEVA02',
        tuning='full'))
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
