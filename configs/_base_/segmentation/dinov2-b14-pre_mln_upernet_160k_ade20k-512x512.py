# As the DINOv2 ViT-L/14 UPerNet base, with ViT-B/14 (dinov2_vitb14).
_base_ = ['./dinov2-l14-pre_mln_upernet_160k_ade20k-512x512.py']
pretrained = 'pretrain/dinov2_vitb14_mmpretrain.pth'
model = dict(
    backbone=dict(
        arch='base',
        out_indices=(2, 5, 8, 11),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[768] * 4, out_channels=768),
    decode_head=dict(in_channels=[768] * 4),
    auxiliary_head=dict(in_channels=768))
