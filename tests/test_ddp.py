"""DDP over 2 CPU processes (gloo) with frozen parameters and adapters in
some blocks only: every tuning mode trains a few steps without
``find_unused_parameters`` and the replicas stay identical.

DDP (``find_unused_parameters=False``, as ``mmpeft.utils.launch`` wraps
models on CPU) fails at the second step when a parameter that requires
grad got none in the first, so three steps per mode are enough to catch it.
"""
import copy
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TINY_SWIN_UPERNET = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255, size=(64, 64)),
    backbone=dict(
        type='PEFTSwinTransformer', pretrain_img_size=64, embed_dims=16,
        depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=3,
        drop_path_rate=0.1, init_cfg=None),
    decode_head=dict(
        type='UPerHead', in_channels=[16, 32, 64, 128],
        in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6), channels=16,
        dropout_ratio=0.1, num_classes=5, norm_cfg=dict(type='BN'),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=64, in_index=2, channels=8,
        num_convs=1, concat_input=False, dropout_ratio=0.1, num_classes=5,
        norm_cfg=dict(type='BN'), align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))

SOME_BLOCKS = [2, 5]  # stages 1 and 2 of the 8 blocks
ADAPTER = dict(type='AdaptFormer', bottleneck=4)
# mode name -> the wrapper options on top of the tiny backbone.
MODES = {
    'peft': dict(adapter=ADAPTER, adapter_blocks=SOME_BLOCKS),
    'full': dict(tuning='full'),
    'frozen': dict(tuning='frozen'),
    'bitfit': dict(tuning='bitfit', adapter=ADAPTER,
                   adapter_blocks=SOME_BLOCKS),
    'ln-tune': dict(tuning='norm'),
    'partial': dict(tuning='partial', partial_blocks=2),
    'e3va': dict(adapter=dict(type='E3VA', bottleneck=4),
                 adapter_blocks=SOME_BLOCKS, extra_trainable=[r'^norm\d']),
    'e3va-bf16': dict(adapter=dict(type='E3VA', bottleneck=4),
                      adapter_blocks=SOME_BLOCKS, frozen_dtype='bf16'),
    'lora': dict(adapter=dict(type='LoRA', rank=2),
                 adapter_blocks=SOME_BLOCKS),
}
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_mode(name: str, rank: int) -> float:
    """STEPS DDP training steps of one mode; the parameters' checksum."""
    from mmengine.config import Config
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS

    from mmpeft.benchmark.synthetic import synthetic_batch
    cfg = copy.deepcopy(TINY_SWIN_UPERNET)
    cfg['backbone'].update(copy.deepcopy(MODES[name]))
    torch.manual_seed(0)  # DDP broadcasts rank 0's weights anyway
    model = MODELS.build(cfg)
    ddp = MMDistributedDataParallel(module=model, device_ids=None,
                                    broadcast_buffers=False,
                                    find_unused_parameters=False)
    optim = build_optim_wrapper(ddp.module, dict(
        constructor='PEFTOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3)))
    data_cfg = Config(dict(default_scope='mmseg', model=cfg))
    for step in range(STEPS):
        # Different data per rank: DDP must average the gradients.
        batch = synthetic_batch(data_cfg, 2, (64, 64),
                                seed=100 * step + rank)
        ddp.train_step(batch, optim)
    return float(sum(p.detach().double().sum()
                     for p in model.parameters()))


def worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    from mmengine.registry import init_default_scope
    import mmpeft  # noqa: F401
    init_default_scope('mmseg')
    try:
        results = {name: train_mode(name, rank) for name in MODES}
        torch.save(results, os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_every_tuning_mode_trains_under_ddp_without_unused_parameters(
        tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2,
             join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1)]
    assert list(ranks[0]) == list(MODES)
    for name in MODES:
        # Averaged gradients, same steps: the replicas are the same model.
        assert ranks[0][name] == pytest.approx(ranks[1][name], rel=1e-6,
                                               abs=1e-6), name
