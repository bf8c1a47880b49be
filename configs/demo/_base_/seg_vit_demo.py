# The tiny ViT of the demo (for VPT-deep, which needs a plain ViT): the
# real ViT-B + MLN + UPerNet ADE20K config shrunk like ./seg_demo.py shrinks
# the Swin one. Demo ViT configs list both files as bases and take these
# values as ``{{_base_.demo_vit_*}}``; data and schedules come from
# ./seg_demo.py.
demo_vit_norm = dict(type='BN', requires_grad=True)
demo_vit_model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(
        img_size=(64, 64),
        patch_size=4,  # 16 x 16 tokens, as the demo Swin's first stage
        embed_dims=64,
        num_layers=4,
        num_heads=2,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/demo/pretrain_vit-tiny_source.pth')),
    # Strides 4 to 32 of the 64x64 input, as the demo Swin's pyramid
    # (upstream's scales 4, 2, 1, 0.5 would make it 4x to 16x larger).
    neck=dict(in_channels=[64, 64, 64, 64], out_channels=64,
              scales=[1, 0.5, 0.25, 0.125]),
    decode_head=dict(
        in_channels=[64, 64, 64, 64], channels=64, num_classes=6,
        norm_cfg=demo_vit_norm),
    auxiliary_head=dict(
        in_channels=64, channels=32, num_classes=6, norm_cfg=demo_vit_norm))
demo_vit_model_vpt = dict(
    demo_vit_model,
    backbone=dict(demo_vit_model['backbone'], adapter=dict(num_tokens=4)))
demo_vit_model_pretrain = dict(
    demo_vit_model,
    backbone=dict(
        demo_vit_model['backbone'], tuning='full', adapter=None,
        init_cfg=None))
