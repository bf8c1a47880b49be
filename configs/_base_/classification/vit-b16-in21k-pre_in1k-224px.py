# ViT-B/16 pre-trained on ImageNet-21K (Google's original release) with a
# linear head, on ImageNet-1k through mmpretrain's ViT pipeline.
_base_ = [
    'mmpretrain::_base_/models/vit-base-p16.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]
# timm's copy of the release, jx_vit_base_patch16_224_in21k-e5005f0a.pth
# (github.com/rwightman/pytorch-image-models/releases/download/v0.1-vitjx/),
# converted to mmpretrain's keys: see "Pretrained weights" in the README of
# each method folder.
pretrained = 'pretrain/vit-base-p16_in21k-pre_mmpretrain.pth'
model = dict(
    backbone=dict(
        drop_rate=0.,  # no dropout after the position embedding (timm's)
        init_cfg=dict(
            _delete_=True, type='Pretrained', checkpoint=pretrained)),
    # Plain cross-entropy, as the AdaptFormer and Convpass fine-tuning code.
    head=dict(
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0)))
# The release expects inputs scaled to [-1, 1].
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
