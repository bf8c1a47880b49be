# CIFAR-100 up-sampled to 224x224 for ImageNet-pretrained backbones, with
# the augmentation of mmpretrain's ImageNet fine-tuning configs (random
# resized crop and flip; resize to 256 and centre crop 224 for testing), which
# is also AdaptFormer's image pipeline. Normalisation is left to the backbone
# settings: it must match the pre-training.
_base_ = ['mmpretrain::_base_/datasets/cifar100_bs16.py']

train_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
