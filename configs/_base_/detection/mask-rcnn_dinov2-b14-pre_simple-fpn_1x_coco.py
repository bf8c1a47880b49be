# As the DINOv2 ViT-L/14 Mask R-CNN base, with ViT-B/14 (dinov2_vitb14).
_base_ = ['./mask-rcnn_dinov2-l14-pre_simple-fpn_1x_coco.py']
pretrained = 'pretrain/dinov2_vitb14_mmpretrain.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.1,  # ViTDet's for ViT-B
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=768))
