# ViT-B/16 pre-trained on ImageNet-21K (Google's original release, the one
# AdaptFormer and Convpass fine-tune) with a linear head, on CIFAR-100.
_base_ = [
    'mmpretrain::_base_/models/vit-base-p16.py',
    '../datasets/cifar100_bs128_224px.py',
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
        num_classes=100,
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0)))
# The release expects inputs scaled to [-1, 1].
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
