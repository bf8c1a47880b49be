# Mask R-CNN + FPN with Swin-B (window 7, ImageNet-22K), 3x schedule with
# multi-scale crop: mmdet's Swin-T recipe at the size of Swin-B (mmdet ships
# Swin-T and Swin-S only).
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py']
# The official release; mmdet's Swin converts its keys (convert_weights=True).
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window7_224_22k.pth'  # noqa
model = dict(
    backbone=dict(
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
# CocoDataset plus a check of every segmentation when the json is parsed: a
# malformed polygon is an error naming the file and the annotation (mmdet
# would drop it silently, or fail late inside mask decoding).
train_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
