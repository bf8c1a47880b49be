"""torch >= 2.6 with mmengine 0.10.7: training checkpoints resume and load
with weights-only unpickling still on."""
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmpeft  # noqa: F401 (applies the compatibility layer)


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
    """A PEFT ViT regressing a vector, enough to exercise the Runner."""

    def __init__(self):
        super().__init__()
        from mmpretrain.registry import MODELS as CLS_MODELS
        self.backbone = CLS_MODELS.build(dict(
            type='PEFTVisionTransformer',
            arch=dict(embed_dims=16, num_layers=2, num_heads=2,
                      feedforward_channels=32),
            img_size=32, patch_size=8, out_type='cls_token',
            adapter=dict(type='iConFormer', bottleneck=4, generator_hidden=4)))
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


def runner_cfg(work_dir, max_iters, **extra):
    loader = dict(dataset=dict(type='RandomPairs'), batch_size=2,
                  sampler=dict(type='DefaultSampler', shuffle=True),
                  collate_fn=dict(type='default_collate'))
    return dict(
        model=dict(type='TinyPEFTRegressor'),
        work_dir=str(work_dir),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        test_dataloader=loader, test_cfg=dict(),
        test_evaluator=dict(type='MeanError'),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), experiment_name=f'compat{max_iters}',
        default_scope='mmpretrain',
        **extra)


def test_train_save_resume_and_test(tmp_path):
    Runner.from_cfg(runner_cfg(tmp_path, 4)).train()
    checkpoint = tmp_path / 'iter_4.pth'
    assert checkpoint.exists()
    # The weights-only unpickler (torch's default) reads mmengine's checkpoint.
    state = torch.load(checkpoint, map_location='cpu')
    assert state['meta']['iter'] == 4
    resumed = Runner.from_cfg(runner_cfg(tmp_path, 6, resume=True))
    resumed.train()
    assert resumed.iter == 6 and (tmp_path / 'iter_6.pth').exists()
    tester = Runner.from_cfg(runner_cfg(tmp_path, 6,
                                        load_from=str(tmp_path / 'iter_6.pth')))
    metrics = tester.test()
    assert metrics['error'] >= 0


class RunsCode:

    def __reduce__(self):
        return (print, ('this checkpoint ran code',))


def test_weights_only_loading_stays_on(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump(dict(state_dict={}, payload=RunsCode()), f)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(path)


class ReachesIntoAClass:
    """Pickles as getattr(HistoryBuffer, '__init__'): a first step towards
    the globals of a module, which the stand-in getattr must refuse."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    from mmengine.logging import HistoryBuffer
    path = tmp_path / 'probe.pth'
    torch.save(dict(ok=HistoryBuffer.mean), path)
    assert torch.load(path)['ok'] is HistoryBuffer.mean
    torch.save(dict(bad=ReachesIntoAClass()), path)
    with pytest.raises(pickle.UnpicklingError, match="'__init__'"):
        torch.load(path)
