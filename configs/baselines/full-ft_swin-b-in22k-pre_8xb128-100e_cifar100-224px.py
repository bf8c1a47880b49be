_base_ = [
    '../_base_/classification/swin-b-in22k-pre_cifar100-224px.py',
    '../_base_/schedules/adaptformer_bs1024_sgd-coslr-100e.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(backbone=dict(type='PEFTSwinTransformer', tuning='full'))
