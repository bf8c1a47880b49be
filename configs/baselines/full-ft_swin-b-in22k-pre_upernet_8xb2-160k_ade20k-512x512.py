_base_ = [
    'mmseg::swin/swin-base-patch4-window7-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py',  # noqa
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(backbone=dict(type='PEFTSwinTransformer', tuning='full'))
