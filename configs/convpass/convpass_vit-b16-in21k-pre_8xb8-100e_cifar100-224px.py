_base_ = [
    '../_base_/classification/vit-b16-in21k-pre_cifar100-224px.py',
    '../_base_/schedules/convpass_bs64_adamw-coslr-100e.py',
]
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='PEFTVisionTransformer',
        drop_path_rate=0.1,  # the authors'
        adapter=dict(type='Convpass', bottleneck=8)))
train_dataloader = dict(batch_size=8)  # 8 GPUs x 8: the authors' 64
