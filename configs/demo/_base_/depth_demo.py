# Shared overrides that shrink the real NYU-v2 depth config (DepthEstimator,
# VPD depth head, SiLog loss) to the synthetic NYU-layout demo: the demo's
# tiny Swin from the source-pretrained checkpoint, a slim head, 64x64
# images, a short CPU schedule. Taken as ``{{_base_.demo_*}}``.
demo_model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(
        pretrain_img_size=64,
        embed_dims=32,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        window_size=4,
        drop_path_rate=0.1,
        adapter=dict(bottleneck=16, generator_hidden=16),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='weights/demo/tiny-swin_upernet_demo-source-64x64.pth')),
    # The head's decoder takes embed_dim * 8 channels from the aggregation,
    # which makes feature_dim: 16 * 8 = 128 (upstream: 192 * 8 = 1536).
    decode_head=dict(
        in_channels=[32, 64, 128, 256], embed_dim=16, feature_dim=128),
    # One 64x64 window with its flip: whole-image inference plus flip.
    test_cfg=dict(mode='slide_flip', crop_size=(64, 64), stride=(64, 64)))

demo_meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape',
                  'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                  'category_id')
demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs', meta_keys=demo_meta_keys),
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedDepthAnnotation', depth_rescale_factor=1e-3),
    dict(type='PackSegInputs', meta_keys=demo_meta_keys),
]
demo_train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/demo/nyu_target', pipeline=demo_train_pipeline))
demo_val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/demo/nyu_target', pipeline=demo_test_pipeline))
# The Eigen crop ('nyu_crop') is a fixed 480x640 pixel window: on 64x64
# images it would keep a corner, so the demo evaluates every pixel.
demo_val_evaluator = dict(crop_type=None)

demo_iters = 200
demo_train_cfg = dict(type='IterBasedTrainLoop', max_iters=demo_iters,
                      val_interval=demo_iters)
demo_param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=20),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=20,
         end=demo_iters),
]
demo_default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=demo_iters, max_keep_ckpts=1,
                    save_best=None,
                    backend_args=dict(backend='atomic_local')))
