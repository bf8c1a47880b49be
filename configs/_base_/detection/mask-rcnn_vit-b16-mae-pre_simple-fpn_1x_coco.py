# Mask R-CNN with a plain ViT-B/16 and ViTDet's simple feature pyramid (one
# stride-16 map turned into strides 4 to 64), on the data, optimizer and 1x
# schedule of mmdet's Swin-T Mask R-CNN. ViTDet's other ingredients (window
# attention, relative positions, layer-wise lr decay, large-scale jitter at
# 1024x1024 for 100 epochs) are left out: the rows compare tuning methods on
# one backbone.
_base_ = ['./mask-rcnn_swin-t-in1k-pre_fpn_1x_coco.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
# MAE pre-training on ImageNet-1k, 1600 epochs (ViTDet's initialisation), as
# released by mmpretrain: upstream keys under 'backbone.'.
pretrained = 'https://download.openmmlab.com/mmselfsup/1.x/mae/mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k/mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_20220825-f7569ca2.pth'  # noqa
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='b',
        img_size=224,  # of the position embedding; resized to every input
        patch_size=16,
        drop_path_rate=0.1,  # ViTDet's for ViT-B
        out_type='featmap',
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=768,
        out_channels=256,
        num_outs=5))
# ViT parameter names: no decay on position embedding, class token and norms.
optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.,
        custom_keys={
            '.pos_embed': dict(decay_mult=0.),
            '.cls_token': dict(decay_mult=0.)
        }))
