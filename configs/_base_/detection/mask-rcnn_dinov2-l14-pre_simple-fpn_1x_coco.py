# Mask R-CNN with DINOv2 ViT-L/14 and ViTDet's simple feature pyramid, on
# the recipe of the ViT-B/16 base (mmdet's Swin-T data, optimizer and 1x
# schedule). Patch 14 makes the backbone map stride 14, so the pyramid's
# strides are 3.5, 7, 14, 28 and 56 and the anchors and RoI extractors are
# told so (the anchor base sizes follow the strides: 28 to 448 pixels).
_base_ = ['./mask-rcnn_vit-b16-mae-pre_simple-fpn_1x_coco.py']
# The official backbone release (facebookresearch/dinov2,
# dinov2_vitl14_pretrain.pth) converted to mmpretrain's keys:
#   python tools/model_converters/dinov2_to_mm.py \
#       dinov2_vitl14_pretrain.pth pretrain/dinov2_vitl14_mmpretrain.pth
pretrained = 'pretrain/dinov2_vitl14_mmpretrain.pth'
strides = [3.5, 7, 14, 28, 56]
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='large',
        img_size=518,
        patch_size=14,
        layer_scale_init_value=1e-5,
        out_type='featmap',
        drop_path_rate=0.4,  # ViTDet's for ViT-L
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=1024),
    rpn_head=dict(anchor_generator=dict(strides=strides)),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=strides[:4]),
        mask_roi_extractor=dict(featmap_strides=strides[:4])))
