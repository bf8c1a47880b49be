"""What keeps PEFT training cheap: no autograd before the first adapter, an
optimizer that holds only trainable parameters (and says so once),
activation checkpointing and bfloat16 autocast with every adapter."""
import copy
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from tiny_models import as_list, build_peft

from mmpeft.adapters import ADAPTERS
from mmpeft.models.injection import adapter_param_names

# Every adapter in its default position (AdaptFormer: parallel).
DEFAULTS = {
    'AdaptFormer': dict(type='AdaptFormer', bottleneck=8),
    'Convpass': dict(type='Convpass', bottleneck=4),
    'iConFormer': dict(type='iConFormer', bottleneck=8, generator_hidden=8),
}


def swin_input(batch=2):
    return torch.randn(batch, 3, 64, 64)


def randomize_adapters(model, std=0.1):
    names = set(adapter_param_names(model))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in names:
                param.normal_(0, std)


def swin_blocks(model):
    return [block for stage in model.stages for block in stage.blocks]


# ------------------------------------------------ autograd before adapters
@pytest.mark.parametrize('adapter', list(DEFAULTS))
def test_blocks_before_the_first_adapter_run_without_autograd(adapter):
    model = build_peft('mmseg-swin', adapter=copy.deepcopy(DEFAULTS[adapter]),
                       adapter_blocks=dict(last=3)).train()
    carried = []
    for block in swin_blocks(model):
        block.register_forward_hook(
            lambda m, i, out: carried.append(out.requires_grad))
    outs = as_list(model(swin_input()))
    # 8 blocks: the first 5 record nothing for autograd, the rest do.
    assert carried == [False] * 5 + [True] * 3
    # Stage outputs taken before the first adapter carry no graph at all.
    assert [o.requires_grad for o in outs] == [False, False, True, True]


def test_head_only_records_no_graph_in_the_backbone():
    model = build_peft('mmseg-swin', tuning='frozen').train()
    assert not any(o.requires_grad for o in as_list(model(swin_input())))


# -------------------------------------------------------------- optimizer
OPTIM = dict(
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    }))


class WarningCounter(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def build_with(model, constructor=None, paramwise=True):
    cfg = copy.deepcopy(OPTIM)
    if not paramwise:
        cfg.pop('paramwise_cfg')
    if constructor:
        cfg['constructor'] = constructor
    # As the Runner of an mmseg config; before counting, since switching
    # the scope logs a warning of its own.
    init_default_scope('mmseg')
    logger = MMLogger.get_current_instance()
    counter = WarningCounter()
    logger.addHandler(counter)
    try:
        wrapper = build_optim_wrapper(model, cfg)
    finally:
        logger.removeHandler(counter)
    groups = [(p, g['lr'], g['weight_decay'])
              for g in wrapper.optimizer.param_groups for p in g['params']]
    return groups, counter.messages


@pytest.mark.parametrize('paramwise', [True, False])
def test_optimizer_holds_only_trainable_parameters_quietly(paramwise):
    model = build_peft('mmseg-swin', adapter=dict(type='AdaptFormer',
                                                  bottleneck=4),
                       extra_trainable=['norm3'])
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert trainable and len(frozen) > 50

    default, default_warnings = build_with(model, paramwise=paramwise)
    ours, our_warnings = build_with(model, 'PEFTOptimWrapperConstructor',
                                    paramwise)
    assert {id(p) for p, _, _ in ours} == {id(p) for p in trainable}
    assert our_warnings == []
    if paramwise:
        # The default skips frozen parameters too, one warning each; the
        # trainable ones get the same learning rate and weight decay.
        assert len(default_warnings) == len(frozen)
        assert sorted((id(p), lr, wd) for p, lr, wd in default) == sorted(
            (id(p), lr, wd) for p, lr, wd in ours)
        decay = {id(p): wd for p, _, wd in ours}
        assert decay[id(model.norm3.weight)] == 0.0
    else:
        # Without paramwise_cfg the default hands over every parameter.
        assert len(default) == len(trainable) + len(frozen)


# ------------------------------------------------------ with_cp, autocast
@pytest.mark.parametrize('backbone', ['mmseg-swin', 'mmseg-vit'])
@pytest.mark.parametrize('adapter', list(DEFAULTS))
@pytest.mark.parametrize('blocks', ['all', dict(last=2)])
def test_with_cp_gives_the_same_training_results(backbone, adapter, blocks):
    cfg = dict(DEFAULTS[adapter], dropout=0.0)
    models = [
        build_peft(backbone, adapter=copy.deepcopy(cfg), with_cp=with_cp,
                   adapter_blocks=copy.deepcopy(blocks))
        for with_cp in (False, True)
    ]
    randomize_adapters(models[0])
    models[1].load_state_dict(models[0].state_dict())
    x = swin_input() if 'swin' in backbone else torch.randn(2, 3, 32, 32)
    results = []
    for model in models:
        model.train()
        outs = as_list(model(x))
        sum(o.pow(2).mean() for o in outs).backward()
        results.append((outs, {n: p.grad for n, p in model.named_parameters()
                               if p.requires_grad}))
    (outs0, grads0), (outs1, grads1) = results
    for a, b in zip(outs0, outs1):
        assert torch.allclose(a, b, atol=1e-6)
    assert grads0.keys() == grads1.keys() and grads0
    for name in grads0:
        assert grads0[name] is not None and grads1[name] is not None, name
        assert torch.allclose(grads0[name], grads1[name], atol=1e-6), name


@pytest.mark.parametrize('adapter', list(DEFAULTS))
@pytest.mark.parametrize('prefix', [0, 1])
def test_bfloat16_autocast_matches_float32(adapter, prefix):
    cfg = dict(DEFAULTS[adapter], dropout=0.0)
    module = ADAPTERS.get(cfg.pop('type'))(32, **cfg).train()
    randomize_adapters_module(module)
    x = torch.randn(3, prefix + 6 * 5, 32)
    x32, x16 = (x.clone().requires_grad_() for _ in range(2))
    out32 = module(x32, (6, 5), prefix)
    out32.sum().backward()
    grads32 = {n: p.grad.clone() for n, p in module.named_parameters()}
    module.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out16 = module(x16, (6, 5), prefix)
    # Up runs in bfloat16 (a float32 scale may promote the product).
    assert out16.dtype in (torch.bfloat16, torch.float32)
    out16.float().sum().backward()
    assert rel_error(out16.float(), out32) <= 0.02
    # bfloat16 keeps 8 bits: a ReLU may gate a unit differently, so compare
    # whole gradients (relative norm), not single entries.
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.dtype == torch.float32
        assert rel_error(param.grad, grads32[name]) <= 0.1, name
    assert rel_error(x16.grad.float(), x32.grad) <= 0.1


def rel_error(value, reference):
    return ((value - reference).norm() / reference.norm().clamp_min(1e-12)
            ).item()


def randomize_adapters_module(module, std=0.3):
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, std)


def test_autocast_backbone_step_with_every_adapter():
    for name, cfg in DEFAULTS.items():
        model = build_peft('mmseg-swin', adapter=copy.deepcopy(cfg),
                           with_cp=True).train()
        randomize_adapters(model)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = as_list(model(swin_input()))
        loss = sum(o.float().pow(2).mean() for o in outs)
        loss.backward()
        assert torch.isfinite(loss)
        for pname, param in model.named_parameters():
            if param.requires_grad:
                assert param.grad is not None, (name, pname)
                assert torch.isfinite(param.grad).all(), (name, pname)
