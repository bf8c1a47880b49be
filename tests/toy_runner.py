"""A tiny PEFT model, dataset and metric that run through mmengine's Runner
in a second, for tests of checkpoints, resuming and the launch tools."""
import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from torch.utils.data import Dataset

import mmpeft  # noqa: F401

HOOK = [dict(type='PEFTCheckpointHook')]
ADAPTER = dict(type='AdaptFormer', bottleneck=4)
VIT = dict(
    arch=dict(embed_dims=16, num_layers=2, num_heads=2,
              feedforward_channels=32),
    img_size=32, patch_size=8, out_type='cls_token', drop_rate=0.0)


@DATASETS.register_module(force=True)
class RandomPairs(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        return dict(inputs=torch.randn(3, 32, 32, generator=generator),
                    target=torch.randn(16, generator=generator))


@MODELS.register_module(force=True)
class TinyPEFTRegressor(BaseModel):
    """A PEFT ViT regressing a vector: backbone + head, like real models."""

    def __init__(self, backbone=None):
        super().__init__()
        from mmpretrain.registry import MODELS as CLS_MODELS
        backbone = backbone or dict(adapter=dict(
            type='iConFormer', bottleneck=4, generator_hidden=4))
        self.backbone = CLS_MODELS.build(dict(
            type='PEFTVisionTransformer', _scope_='mmpretrain', **VIT,
            **backbone))
        self.head = nn.Linear(16, 16)

    def forward(self, inputs, target, mode='tensor'):
        pred = self.head(self.backbone(inputs)[-1])
        if mode == 'loss':
            return dict(loss=(pred - target).pow(2).mean())
        return [dict(error=(pred - target).abs().mean())]


@METRICS.register_module(force=True)
class MeanError(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results.extend(float(s['error']) for s in data_samples)

    def compute_metrics(self, results):
        return dict(error=sum(results) / len(results))


def runner_cfg(work_dir, max_iters, backbone=None, **extra):
    loader = dict(dataset=dict(type='RandomPairs'), batch_size=2,
                  sampler=dict(type='DefaultSampler', shuffle=True),
                  collate_fn=dict(type='default_collate'))
    return dict(
        model=dict(type='TinyPEFTRegressor', backbone=backbone),
        work_dir=str(work_dir),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        test_dataloader=loader, test_cfg=dict(),
        test_evaluator=dict(type='MeanError'),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), experiment_name=f'toy{max_iters}',
        default_scope='mmpretrain', **extra)


def save_plain_vit(path):
    """An upstream-format (mmpretrain) ViT checkpoint to use as base."""
    from mmpretrain.registry import MODELS as CLS_MODELS
    plain = CLS_MODELS.build(dict(type='VisionTransformer',
                                  _scope_='mmpretrain', **VIT))
    torch.save(dict(state_dict=plain.state_dict()), path)
    return plain


def peft_backbone_cfg(base_path, adapter=ADAPTER):
    return dict(adapter=adapter,
                init_cfg=ConfigDict(type='Pretrained',
                                    checkpoint=str(base_path)))


def train_toy(tmp_path, iters=4, seed=0, **hook_options):
    """Train the toy model on a saved base; returns (base, work dir, runner).
    """
    from mmengine.runner import Runner
    base = tmp_path / 'base.pth'
    if not base.exists():
        save_plain_vit(base)
    work = tmp_path / f'work{seed}'
    cfg = runner_cfg(work, iters, backbone=peft_backbone_cfg(base),
                     custom_hooks=[dict(HOOK[0], **hook_options)])
    cfg['randomness'] = dict(seed=seed)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return base, work, runner
