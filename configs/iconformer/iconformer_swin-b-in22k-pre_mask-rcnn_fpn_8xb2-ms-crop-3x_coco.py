_base_ = [
    '../_base_/detection/mask-rcnn_swin-b-in22k-pre_fpn_ms-crop-3x_coco.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='PEFTSwinTransformer',
        adapter=dict(type='iConFormer', bottleneck=64)))
