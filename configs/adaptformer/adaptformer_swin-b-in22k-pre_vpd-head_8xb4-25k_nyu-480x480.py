_base_ = ['../_base_/depth/swin-b-in22k-pre_vpd-head_8xb4-25k_nyu-480x480.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='PEFTSwinTransformer',
        adapter=dict(type='AdaptFormer', bottleneck=64)))
