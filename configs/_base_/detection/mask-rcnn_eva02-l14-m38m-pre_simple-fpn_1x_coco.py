# Mask R-CNN with EVA-02-L/14 (MIM on Merged-38M) and ViTDet's simple
# feature pyramid, on the recipe of the ViT-B/16 base. Patch 14: strides
# 3.5 to 56, as in the DINOv2 base.
_base_ = ['./mask-rcnn_vit-b16-mae-pre_simple-fpn_1x_coco.py']
# The official release (baaivision/EVA, EVA-02, eva02_L_pt_m38m_p14.pt)
# converted to mmpretrain's keys:
#   python tools/model_converters/eva02_to_mm.py \
#       eva02_L_pt_m38m_p14.pt pretrain/eva02_L_pt_m38m_p14_mmpretrain.pth
pretrained = 'pretrain/eva02_L_pt_m38m_p14_mmpretrain.pth'
strides = [3.5, 7, 14, 28, 56]
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ViTEVA02',
        arch='large',
        img_size=224,
        patch_size=14,
        sub_ln=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        out_type='featmap',
        final_norm=False,
        drop_path_rate=0.4,  # ViTDet's for ViT-L
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=1024),
    rpn_head=dict(anchor_generator=dict(strides=strides)),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=strides[:4]),
        mask_roi_extractor=dict(featmap_strides=strides[:4])))
