# AdaptFormer's image fine-tuning recipe (paper, Appendix A.1.2 and Table 5;
# authors' main_image.py): SGD with momentum 0.9 and no weight decay on any
# parameter, base lr 0.1 per 256 images (0.4 at the batch of 1,024: 8 GPUs x
# 128), 20 warm-up epochs, cosine decay to 0, 100 epochs.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.4, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=20,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=80,
        eta_min=0.,
        by_epoch=True,
        begin=20,
        end=100,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
