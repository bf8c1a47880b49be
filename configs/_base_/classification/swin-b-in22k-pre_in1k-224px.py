# Swin-B (window 7) pre-trained on ImageNet-22K with a linear head, on
# ImageNet-1k through mmpretrain's ViT pipeline (no RandAugment or random
# erasing: those belong to mmpretrain's training from scratch).
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/base_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]
# mmseg's conversion of the official swin_base_patch4_window7_224_22k.pth;
# its keys are those of mmpretrain's SwinTransformer, so it loads unchanged.
checkpoint_file = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_base_patch4_window7_224_22k_20220317-4f79f7c0.pth'  # noqa
model = dict(
    backbone=dict(
        drop_path_rate=0.,  # AdaptFormer fine-tunes without drop path
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    head=dict(
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(
            _delete_=True, type='TruncNormal', layer='Linear', std=0.02)),
    # The classifier-level init of training from scratch would re-initialise
    # every nn.Linear of the model, adapters included; the head gets it above.
    init_cfg=None,
    train_cfg=None)  # no Mixup / CutMix: these are for training from scratch
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader
