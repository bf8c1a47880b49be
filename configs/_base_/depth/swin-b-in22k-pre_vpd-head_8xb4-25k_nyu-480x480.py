# Monocular depth on NYU-v2 with Swin-B (window 7, ImageNet-22K): mmseg's
# DepthEstimator, VPD depth head, SiLog loss, NYU data (upstream layout),
# DepthMetric with the Eigen crop and 25k schedule of its only upstream depth
# config (VPD), with Swin-B in place of VPD's Stable-Diffusion backbone.
_base_ = ['mmseg::vpd/vpd_sd_4xb8-25k_nyu-480x480.py']
checkpoint_file = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_base_patch4_window7_224_22k_20220317-4f79f7c0.pth'  # noqa
model = dict(
    # The ImageNet statistics of the Swin weights, not Stable Diffusion's.
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        pretrain_img_size=224,
        embed_dims=128,
        depths=[2, 2, 18, 2],
        num_heads=[4, 8, 16, 32],
        window_size=7,
        drop_path_rate=0.3,  # mmseg's UPerNet Swin-B
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file)),
    decode_head=dict(
        in_channels=[128, 256, 512, 1024],
        # Swin's pyramid starts at stride 4, VPD's at 8: one deconvolution
        # fewer brings the prediction to the input resolution; no border.
        num_deconv_layers=2,
        num_deconv_filters=(32, 32),
        fmap_border=0),
    # VPD's 'slide_flip' (crop 480, stride 160). Not 'slide': mmseg 1.2.2's
    # DepthEstimator silently runs it as whole-image inference.
    test_cfg=dict(mode='slide_flip'))
# VPD needs this for the unused parts of Stable Diffusion; Swin uses all.
find_unused_parameters = False
# VPD's lr (AdamW 1e-3 from schedule_25k) for the new layers, its 1/100 for
# the pretrained backbone. Adapters are new layers: the head's lr.
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '_delete_': True,
            'backbone': dict(lr_mult=0.01),
            '.adapters.': dict(lr_mult=1.0)
        }))
# The evaluator is the upstream DepthMetric with the Eigen crop; leave its
# depth_metrics None (all metrics): in mmseg 1.2.2 a list raises TypeError.
# Upstream's NYU pipelines (mmseg::_base_/datasets/nyu.py) with the depth
# loader that refuses a depth PNG that is not 16-bit (mmseg's would scale
# an 8-bit one to at most 0.255 m without a word).
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
             'pad_shape', 'scale_factor', 'flip', 'flip_direction',
             'category_id')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomDepthMix', prob=0.25),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCrop', crop_size=(480, 480)),
    dict(
        type='Albu',
        transforms=[
            dict(type='RandomBrightnessContrast'),
            dict(type='RandomGamma'),
            dict(type='HueSaturationValue'),
        ]),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2000, 480), keep_ratio=True),
    dict(type='LoadCheckedDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=4,  # 8 GPUs x 4 = VPD's 4 x 8
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
