# Shared overrides that shrink a real ADE20K UPerNet-Swin config to the
# synthetic demo: a tiny Swin, 64x64 images, a short CPU schedule. Demo
# configs inherit their method's real config plus this file and take these
# values as ``{{_base_.demo_*}}`` (two bases may not share a top-level key).
demo_norm = dict(type='BN', requires_grad=True)

# The source segmentor the demo ships (the backbone, and the heads without
# their classifiers, tools/misc/pretrain_demo_backbone.py).
demo_weights = 'weights/demo/tiny-swin_upernet_demo-source-64x64.pth'
demo_decode_head = dict(
    in_channels=[32, 64, 128, 256], channels=64, num_classes=6,
    norm_cfg=demo_norm)
demo_auxiliary_head = dict(
    in_channels=128, channels=32, num_classes=6, norm_cfg=demo_norm)
# Fine-tuning starts the heads from the source segmentor's too (a new
# classifier each): 300 iterations do not train a UPerNet head from
# scratch (it reaches 50 mIoU on the source task itself, the pretrained
# segmentor 81), which hid every difference between the backbones.
demo_model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(
        pretrain_img_size=64,
        embed_dims=32,
        depths=(2, 2, 2, 2),
        num_heads=(1, 2, 4, 8),
        window_size=4,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=demo_weights)),
    decode_head=dict(
        demo_decode_head,
        init_cfg=dict(type='Pretrained', checkpoint=demo_weights,
                      prefix='decode_head.')),
    auxiliary_head=dict(
        demo_auxiliary_head,
        init_cfg=dict(type='Pretrained', checkpoint=demo_weights,
                      prefix='auxiliary_head.')))

# Bottlenecks scaled to the tiny Swin's 32 to 256 channels (the real
# defaults, 64 for iConFormer/AdaptFormer, are wider than its first stage).
demo_model_adaptformer = dict(
    demo_model,
    backbone=dict(demo_model['backbone'], adapter=dict(bottleneck=16)))
demo_model_convpass = dict(
    demo_model,
    backbone=dict(demo_model['backbone'], adapter=dict(bottleneck=8)))
demo_model_iconformer = dict(
    demo_model,
    backbone=dict(
        demo_model['backbone'],
        adapter=dict(bottleneck=16, generator_hidden=16)))
# The other PEFT methods (configs/{lora,houlsby,mona}), scaled alike; the
# tuning modes (bitfit, ln-tune, partial) need no change of size.
demo_model_lora = dict(
    demo_model,
    backbone=dict(demo_model['backbone'], adapter=dict(rank=4, alpha=4)))
demo_model_houlsby = demo_model_adaptformer
demo_model_mona = demo_model_adaptformer
# Pretraining: the same network trained fully from scratch.
demo_model_pretrain = dict(
    demo_model,
    backbone=dict(
        demo_model['backbone'], tuning='full', adapter=None, init_cfg=None),
    decode_head=demo_decode_head,
    auxiliary_head=demo_auxiliary_head)

demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
demo_train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='DemoSegTargetDataset',
        data_root='data/demo/seg_target',
        data_prefix=dict(img_path='images/training',
                         seg_map_path='annotations/training'),
        pipeline=demo_train_pipeline))
demo_val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='DemoSegTargetDataset',
        data_root='data/demo/seg_target',
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=demo_test_pipeline))

demo_source_train_dataloader = dict(
    demo_train_dataloader,
    dataset=dict(
        demo_train_dataloader['dataset'],
        type='DemoSegSourceDataset',
        data_root='data/demo/seg_source'))
demo_source_val_dataloader = dict(
    demo_val_dataloader,
    dataset=dict(
        demo_val_dataloader['dataset'],
        type='DemoSegSourceDataset',
        data_root='data/demo/seg_source'))

# Learning rates: adapters and heads are new layers and take a larger rate
# than the pretrained weights of full fine-tuning (as in the papers: e.g.
# AdaptFormer's 10x rate over full fine-tuning); pretraining from scratch
# takes the adapters' rate.
demo_pretrain_lr = 1e-3
demo_peft_lr = 1e-3
# The adapters that scale their output by s = 0.1 (AdaptFormer, Convpass,
# iConFormer, E3VA) at 20x the heads' rate (2e-2): they start at zero (a
# zero up-projection) and, at the heads' rate, barely left it in 300
# iterations. One rate for all four, tried on seeds 3-5 (never the
# tables'): iConFormer 43.1 mIoU at 2.5e-3, 47.4 at 5e-3, 48.8 at 1e-2,
# 49.3 at 2e-2, 48.6 at 4e-2; Convpass 49-50 at 5e-3, 55.0 at 2e-2;
# AdaptFormer 39.9 at 5e-3, 43.0 at 1e-2, 44.9 at 2e-2 on a dataset
# generated like the target's, 46.7 at 2e-2 on the target's own. The
# parameters of the other PEFT methods (BitFit, LN-tune, LoRA's) keep the
# base rate.
demo_scaled_adapter_paramwise_cfg = dict(
    custom_keys=dict(adapters=dict(lr_mult=20.0)))
# Houlsby and Mona add their output unscaled (s = 1, not 0.1), so the
# same rate moves them ten times as far: at 2e-2 both fell below the
# frozen backbone (seeds 0-2 of ``--methods all``: 31.0 and 18.9 mIoU).
# Tried on seeds 3-5: Houlsby 43.0 at 2e-3, 43.4 at 5e-3, 43.7 at 1e-2;
# Mona 47.8 at 1e-3, 54.7 at 2e-3, 56.8 at 5e-3. Both take 5e-3.
demo_unscaled_adapter_paramwise_cfg = dict(
    custom_keys=dict(adapters=dict(lr_mult=5.0)))
# Full fine-tuning: the heads at 1e-3, the pretrained backbone at half of
# it (5e-4), the best of five rates tried on seeds 3-5: 1e-4 39.6 mIoU
# (seeds 3-4), 2.5e-4 43.3, 5e-4 47.1, 1e-3 46.7, 2e-3 45.5.
demo_full_lr = 1e-3
demo_full_paramwise_cfg = dict(custom_keys=dict(backbone=dict(lr_mult=0.5)))

demo_iters = 300
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
                    backend_args=dict(backend='atomic_local')))

demo_pretrain_iters = 4000
demo_pretrain_train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=demo_pretrain_iters,
    val_interval=demo_pretrain_iters)
demo_pretrain_param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=20),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=20,
         end=demo_pretrain_iters),
]
demo_pretrain_default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=demo_pretrain_iters,
                    max_keep_ckpts=1,
                    backend_args=dict(backend='atomic_local')))
