_base_ = [
    '../_base_/detection/mask-rcnn_vit-b16-mae-pre_simple-fpn_1x_coco.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='mmpretrain.PEFTVisionTransformer',
        adapter=dict(type='Convpass', bottleneck=8)))
