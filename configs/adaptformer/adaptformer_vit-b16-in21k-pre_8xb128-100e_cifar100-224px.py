_base_ = [
    '../_base_/classification/vit-b16-in21k-pre_cifar100-224px.py',
    '../_base_/schedules/adaptformer_bs1024_sgd-coslr-100e.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='PEFTVisionTransformer',
        adapter=dict(type='AdaptFormer', bottleneck=64)))
