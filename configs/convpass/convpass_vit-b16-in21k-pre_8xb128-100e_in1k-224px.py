_base_ = [
    '../_base_/classification/vit-b16-in21k-pre_in1k-224px.py',
    '../_base_/schedules/convpass_bs64_adamw-coslr-100e.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='PEFTVisionTransformer',
        drop_path_rate=0.1,  # the authors'
        adapter=dict(type='Convpass', bottleneck=8)))
# The authors' batch of 64 would take 2M iterations on ImageNet-1k: this
# uses the batch of the other ImageNet-1k configs and keeps their lr.
auto_scale_lr = dict(base_batch_size=1024)
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
