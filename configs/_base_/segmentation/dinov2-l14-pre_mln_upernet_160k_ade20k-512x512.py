# UPerNet on ADE20K with DINOv2 ViT-L/14 (Oquab et al., 2023) through
# mmpretrain's VisionTransformer: layer scale 1e-5, patch 14, the release's
# 37 x 37 position embedding (img_size=518) resized to every input; a
# 512 x 512 crop is padded to 518 (37 x 37 tokens). The data, schedule, neck
# and heads are mmseg's ViT-B UPerNet recipe with ViT-L widths.
_base_ = ['mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
# The official backbone release (facebookresearch/dinov2,
# dinov2_vitl14_pretrain.pth) converted to mmpretrain's keys:
#   python tools/model_converters/dinov2_to_mm.py \
#       dinov2_vitl14_pretrain.pth pretrain/dinov2_vitl14_mmpretrain.pth
pretrained = 'pretrain/dinov2_vitl14_mmpretrain.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='large',
        img_size=518,
        patch_size=14,
        layer_scale_init_value=1e-5,
        out_indices=(5, 11, 17, 23),
        out_type='featmap',
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[1024] * 4, out_channels=1024),
    decode_head=dict(in_channels=[1024] * 4),
    auxiliary_head=dict(in_channels=1024))
