# Shared overrides that shrink a real Mask R-CNN Swin config to the
# synthetic COCO-format demo: the demo's tiny Swin (loaded from the
# source-pretrained checkpoint), slim FPN and heads, 96x96 inputs, a short
# iteration-based CPU schedule. Taken as ``{{_base_.demo_*}}``.
demo_channels = 64
demo_model = dict(
    backbone=dict(
        pretrain_img_size=64,
        embed_dims=32,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        window_size=4,
        drop_path_rate=0.1,
        adapter=dict(bottleneck=16, generator_hidden=16),
        # Our checkpoint is already in mmdet's key format.
        convert_weights=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='weights/demo/tiny-swin_upernet_demo-source-64x64.pth')),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=demo_channels),
    rpn_head=dict(
        in_channels=demo_channels,
        feat_channels=demo_channels,
        # Objects are 15 to 45 pixels at 96x96: anchors of 16 to 256.
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=demo_channels),
        bbox_head=dict(in_channels=demo_channels, fc_out_channels=256,
                       num_classes=6),
        mask_roi_extractor=dict(out_channels=demo_channels),
        mask_head=dict(in_channels=demo_channels,
                       conv_out_channels=demo_channels, num_classes=6)),
    # A few objects per image: far fewer proposals and RoIs than COCO's.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(max_per_img=20)))

demo_scale = (96, 96)
demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=demo_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=demo_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
demo_data_root = 'data/demo/coco_target/'
demo_train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='DemoCocoTargetDataset',
        data_root=demo_data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=demo_train_pipeline))
demo_val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='DemoCocoTargetDataset',
        data_root=demo_data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        test_mode=True,
        pipeline=demo_test_pipeline))
demo_val_evaluator = dict(
    ann_file=demo_data_root + 'annotations/instances_val.json')

demo_iters = 100
demo_train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                      max_iters=demo_iters, val_interval=demo_iters)
demo_param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=10),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=10,
         end=demo_iters),
]
demo_default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=demo_iters, max_keep_ckpts=1,
                    backend_args=dict(backend='atomic_local')))
demo_log_processor = dict(by_epoch=False)
demo_lr = 1e-3
