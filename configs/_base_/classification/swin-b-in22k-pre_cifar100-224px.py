# Swin-B (window 7) pre-trained on ImageNet-22K with a linear head, on
# CIFAR-100 (AdaptFormer's Swin-B setting, Appendix A.2.2).
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/base_224.py',
    '../datasets/cifar100_bs128_224px.py',
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
        num_classes=100,
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(
            _delete_=True, type='TruncNormal', layer='Linear', std=0.02)),
    # The classifier-level init of training from scratch would re-initialise
    # every nn.Linear of the model, adapters included; the head gets it above.
    init_cfg=None,
    train_cfg=None)  # no Mixup / CutMix: these are for training from scratch
data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
