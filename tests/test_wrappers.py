"""Every adapter in every registered wrapper: identity at init, gradients,
pretrained loading, checkpointing, grids, freezing and config errors."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from tiny_models import (ADAPTER_CFGS, BACKBONES, UNSUPPORTED, WITH_CP,
                         as_list, build_peft, build_plain, input_for,
                         max_diff, randomize_adapters, supported)

from mmpeft.models.injection import adapter_param_names

CASES = [(b, a) for b in BACKBONES for a in ADAPTER_CFGS if supported(b, a)]


def paired(backbone, adapter_name, **overrides):
    """A plain upstream backbone and a wrapper holding the same weights."""
    plain = build_plain(backbone, **overrides)
    peft = build_peft(backbone, adapter=copy.deepcopy(
        ADAPTER_CFGS[adapter_name]), **overrides)
    result = peft.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert sorted(result.missing_keys) == sorted(adapter_param_names(peft))
    return plain, peft


@pytest.mark.parametrize('backbone,adapter', CASES)
@pytest.mark.parametrize('non_square', [False, True])
def test_identity_at_init_then_different(backbone, adapter, non_square):
    plain, peft = paired(backbone, adapter)
    plain.eval(), peft.eval()
    x = input_for(backbone, non_square)
    with torch.no_grad():
        expected = plain(x)
        assert max_diff(peft(x), expected) <= 1e-6
        randomize_adapters(peft)
        assert max_diff(peft(x), expected) > 1e-4


@pytest.mark.parametrize('backbone,adapter', CASES)
def test_gradients_only_on_trainable_parameters(backbone, adapter):
    _, peft = paired(backbone, adapter)
    randomize_adapters(peft)
    peft.train()
    loss = sum(out.pow(2).mean() for out in as_list(peft(input_for(
        backbone))))
    loss.backward()
    adapter_names = set(adapter_param_names(peft))
    assert adapter_names
    for name, param in peft.named_parameters():
        if name in adapter_names:
            assert param.requires_grad, name
            assert param.grad is not None and param.grad.abs().sum() > 0, \
                name
        else:
            assert not param.requires_grad and param.grad is None, name


@pytest.mark.parametrize('backbone,adapter', UNSUPPORTED)
def test_unsupported_pairs_are_refused_saying_why(backbone, adapter):
    with pytest.raises(ValueError, match=UNSUPPORTED[backbone, adapter]):
        build_peft(backbone, adapter=copy.deepcopy(ADAPTER_CFGS[adapter]))


@pytest.mark.parametrize('backbone,adapter', [
    (b, a) for b in WITH_CP
    for a in ['AdaptFormer-seq', 'Convpass', 'iConFormer', 'HoulsbyAdapter',
              'Mona', 'LoRA'] if supported(b, a)])
@pytest.mark.parametrize('tuning', ['peft', 'full'])
def test_with_cp_gives_same_outputs_and_gradients(backbone, adapter, tuning):
    cfg = dict(ADAPTER_CFGS[adapter], dropout=0.0)
    models = []
    for with_cp in (False, True):
        model = build_peft(backbone, adapter=copy.deepcopy(cfg),
                           tuning=tuning, with_cp=with_cp)
        models.append(model)
    randomize_adapters(models[0])
    models[1].load_state_dict(models[0].state_dict())
    x = input_for(backbone)
    results = []
    for model in models:
        model.train()
        outs = as_list(model(x))
        sum(o.pow(2).mean() for o in outs).backward()
        grads = {n: p.grad for n, p in model.named_parameters()
                 if p.grad is not None}
        results.append((outs, grads))
    (outs0, grads0), (outs1, grads1) = results
    assert max_diff(outs0, outs1) <= 1e-6
    assert grads0.keys() == grads1.keys() and grads0
    for name in grads0:
        assert torch.allclose(grads0[name], grads1[name], atol=1e-6), name


@pytest.mark.parametrize('backbone', list(BACKBONES))
def test_upstream_checkpoint_loads_with_only_adapter_keys_missing(
        backbone, tmp_path):
    plain = build_plain(backbone)
    with torch.no_grad():  # make the weights differ from any init
        for param in plain.parameters():
            param.add_(torch.randn_like(param) * 0.01)
    # mmdet's Swin reads only 'backbone.'-prefixed keys (detector format).
    prefix = 'backbone.' if backbone == 'mmdet-swin' else ''
    path = tmp_path / 'upstream.pth'
    torch.save(dict(state_dict={
        prefix + k: v for k, v in plain.state_dict().items()}), path)
    peft = build_peft(backbone, adapter=dict(ADAPTER_CFGS['iConFormer']),
                      init_cfg=ConfigDict(type='Pretrained',
                                          checkpoint=str(path)))
    peft.init_weights()
    plain.eval(), peft.eval()
    x = input_for(backbone)
    with torch.no_grad():
        assert max_diff(peft(x), plain(x)) <= 1e-6
    upstream_keys = set(plain.state_dict())
    peft_keys = set(peft.state_dict())
    assert upstream_keys <= peft_keys
    assert peft_keys - upstream_keys == set(adapter_param_names(peft))
    assert all('.adapters.' in k for k in peft_keys - upstream_keys)


@pytest.mark.parametrize('backbone', list(BACKBONES))
def test_init_weights_never_overwrites_adapters(backbone):
    peft = build_peft(backbone, adapter=dict(ADAPTER_CFGS['Convpass']))
    randomize_adapters(peft)
    before = {n: p.clone() for n, p in peft.named_parameters()
              if n in adapter_param_names(peft)}
    for _ in range(2):
        peft.init_weights()
        for name, param in peft.named_parameters():
            if name in before:
                assert torch.equal(param, before[name]), name


@pytest.mark.parametrize('backbone', list(BACKBONES))
def test_upstream_classes_are_not_patched(backbone):
    build_peft(backbone, adapter=dict(ADAPTER_CFGS['AdaptFormer']))
    plain = build_plain(backbone)
    for module in plain.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not hasattr(module, 'adapters')


def test_tuning_modes_and_extra_trainable():
    full = build_peft('mmseg-swin', tuning='full')
    assert all(p.requires_grad for p in full.parameters())
    frozen = build_peft('mmseg-swin', tuning='frozen')
    assert not any(p.requires_grad for p in frozen.parameters())
    peft = build_peft('mmseg-swin', adapter=dict(type='AdaptFormer', bottleneck=4),
                      extra_trainable=[r'norm\d?\.'])
    trainable = {n for n, p in peft.named_parameters() if p.requires_grad}
    assert set(adapter_param_names(peft)) < trainable
    extra = trainable - set(adapter_param_names(peft))
    assert extra and all('norm' in n for n in extra)
    report = peft.peft_report()
    assert report['backbone_other_trainable'] == sum(
        p.numel() for n, p in peft.named_parameters() if n in extra)


@pytest.mark.parametrize('backbone', ['mmseg-swin', 'mmpretrain-vit'])
def test_frozen_stages_are_frozen_at_construction(backbone):
    peft = build_peft(backbone, adapter=dict(type='AdaptFormer', bottleneck=4),
                      frozen_stages=1, tuning='full')
    blocks = peft.peft_spec.blocks(peft)
    frozen_blocks = [b for stage, b in blocks if stage < 1]
    assert frozen_blocks
    for block in frozen_blocks:
        # 'all' skips blocks of frozen stages; their weights are frozen now,
        # not at the first train() (after DDP has wrapped the model).
        assert not hasattr(block, 'adapters')
        assert not any(p.requires_grad for p in block.parameters())
    assert any(hasattr(b, 'adapters') for _, b in blocks)


def test_adapter_blocks_selection():
    peft = build_peft('mmseg-swin', adapter=dict(type='AdaptFormer', bottleneck=4),
                      adapter_blocks=dict(last=3))
    blocks = [b for _, b in peft.peft_spec.blocks(peft)]
    assert [hasattr(b, 'adapters') for b in blocks] == [False] * 5 + [True] * 3
    peft = build_peft('mmseg-vit', adapter=dict(type='Convpass', bottleneck=4),
                      adapter_blocks=[0, 2])
    assert [hasattr(b, 'adapters') for b in peft.layers] == [
        True, False, True, False]


def test_train_returns_the_module():
    peft = build_peft('mmpretrain-vit', adapter=dict(type='AdaptFormer', bottleneck=4))
    assert peft.train() is peft
    assert peft.eval() is peft


BAD_CONFIGS = [
    (dict(adapter=dict(type='LoRAFormer')), KeyError,
     r"adapter.type: unknown adapter 'LoRAFormer'.*AdaptFormer.*Convpass"),
    (dict(adapter=dict(type='AdaptFormer', position='beside')), KeyError,
     r"adapter.position: unknown position 'beside'"),
    (dict(adapter=dict(type='AdaptFormer', bottleneck=0)), ValueError,
     r'adapter.bottleneck must be an integer >= 1'),
    (dict(adapter=dict(type='AdaptFormer', bottleneck=4096)), ValueError,
     r'adapter.bottleneck=4096 is wider than the 16 channels'),
    (dict(adapter=dict(type='iConFormer', bottleneck=4, kernel_size=4)),
     ValueError,
     r'kernel_size must be odd'),
    (dict(adapter=dict(type='AdaptFormer', bottleneck=4), adapter_blocks=[0, 8]),
     IndexError, r'adapter_blocks: block index 8 is out of range.*0\.\.7'),
    (dict(adapter=dict(type='AdaptFormer', bottlenek=8)), KeyError,
     r"adapter.bottlenek: not an option of AdaptFormer \(did you mean "
     r"'bottleneck'\?\)"),
    (dict(tuning='half'), ValueError,
     r"tuning: unknown mode 'half'; allowed: \['peft', 'bitfit', 'norm', "
     r"'partial', 'full', 'frozen'\]"),
    (dict(tuning='frozen', adapter=dict(type='AdaptFormer')), ValueError,
     r"tuning='frozen'"),
    (dict(adapter=dict(type='AdaptFormer', bottleneck=4), extra_trainable=['nrom']),
     ValueError, r"extra_trainable: \['nrom'\] match no parameter"),
    (dict(adapter=dict(type='AdaptFormer', bottleneck=4), adapter_blocks=[0],
          frozen_stages=1), ValueError, r'frozen_stages=1 freezes'),
    (dict(adapter=dict(type='AdaptFormer', position='q')), KeyError,
     r"adapter.position: unknown position 'q'; allowed: \['attn_parallel'"),
    (dict(adapter=dict(type='LoRA', rank=0)), ValueError,
     r'adapter.rank must be an integer >= 1, got 0'),
    (dict(adapter=dict(type='LoRA', targets=('q', 'o'))), KeyError,
     r"adapter.targets: unknown position 'o'; allowed: \['attn_q', "
     r"'attn_k', 'attn_v', 'attn_proj', 'q', 'k', 'v', 'proj'\]"),
    (dict(adapter=dict(type='LoRA', position='q')), KeyError,
     r"adapter.position: not an option of LoRA.*'targets', 'type'"),
    (dict(adapter=dict(type='VPTDeep')), ValueError,
     r"adapter.type='VPTDeep': its prompt tokens join the token sequence of "
     r'every block, which SegPEFTSwinTransformer blocks cannot provide: Swin '
     r'attends within \(shifted\) windows'),
    (dict(tuning='partial'), ValueError,
     r"tuning='partial' needs partial_blocks.*in \[1, 8\], got None"),
    (dict(tuning='partial', partial_blocks=9), ValueError,
     r"partial_blocks.*in \[1, 8\], got 9"),
    (dict(tuning='bitfit', partial_blocks=2), ValueError,
     r"partial_blocks only applies to tuning='partial', not 'bitfit'"),
    (dict(tuning='full', extra_trainable=['norm']), ValueError,
     r"extra_trainable only applies to tuning in \['peft', 'bitfit', "
     r"'norm', 'partial'\], not 'full'"),
]


@pytest.mark.parametrize('overrides,error,message', BAD_CONFIGS)
def test_bad_configuration_names_the_key(overrides, error, message):
    with pytest.raises(error, match=message):
        build_peft('mmseg-swin', **overrides)


@pytest.mark.parametrize('backbone', ['mmseg-swin', 'mmseg-vit'])
def test_deep_copy_runs_its_own_adapters(backbone):
    """EMA-style copies must record their grid and run their adapters."""
    _, peft = paired(backbone, 'Convpass')
    randomize_adapters(peft)
    clone = copy.deepcopy(peft).eval()
    peft.eval()
    x = input_for(backbone, non_square=True)
    with torch.no_grad():
        assert max_diff(clone(x), peft(x)) <= 1e-6
        randomize_adapters(clone)
        assert max_diff(clone(x), peft(x)) > 1e-4


def test_report_table_is_logged_numbers():
    peft = build_peft('mmseg-vit', adapter=dict(type='AdaptFormer',
                                                bottleneck=4))
    report = peft.peft_report()
    # 4 blocks of 2*C*d + d + C with C = 32, d = 4.
    assert report['adapter_params'] == 4 * (2 * 32 * 4 + 4 + 32)
    assert f"{report['adapter_params']:,}" in peft.peft_report_table()


def test_full_tuning_keeps_every_upstream_flag():
    """mmpretrain's ViT freezes its embeddings in _freeze_stages; upstream
    calls it only from frozen_stages=1, and so must the wrapper."""
    for name in BACKBONES:
        plain = build_plain(name)
        full = build_peft(name, tuning='full')
        assert {n: p.requires_grad for n, p in full.named_parameters()} == {
            n: p.requires_grad for n, p in plain.named_parameters()}, name
        assert all(p.requires_grad for p in full.parameters()), name


@pytest.mark.parametrize('backbone, scope, message', [
    (dict(type='SwinTransformer'), 'mmseg',
     r"model.backbone.type='SwinTransformer' takes no adapter "
     r"\(model.backbone.adapter is set\); backbones that take adapters: "
     r'PEFTSwinTransformer'),
    (dict(type='ResNet', depth=18), 'mmdet',
     r"model.backbone.type='ResNet' takes no adapter"),
    (dict(type='PEFTVisionTransformer'), 'mmdet',
     r"model.backbone.type='PEFTVisionTransformer' is not registered in the "
     r"'mmdet' scope.*'mmpretrain.PEFTVisionTransformer'"),
])
def test_adapter_on_unsupported_backbone_names_the_key(backbone, scope,
                                                        message):
    from mmpeft.apis import build_from_config
    from mmpeft.models.backbones import check_adapter_hosts
    model = dict(type='EncoderDecoder',
                 backbone=dict(backbone, adapter=dict(type='AdaptFormer')))
    with pytest.raises(ValueError, match=message):
        check_adapter_hosts(model, scope)
    with pytest.raises(ValueError, match=message):
        build_from_config(dict(model=model, default_scope=scope))


def test_adapter_hosts_accept_every_wrapper_in_its_scope():
    from mmpeft.models.backbones import check_adapter_hosts
    adapter = dict(type='AdaptFormer')
    for scope, name in [('mmseg', 'PEFTSwinTransformer'),
                        ('mmdet', 'PEFTSwinTransformer'),
                        ('mmpretrain', 'PEFTSwinTransformer'),
                        ('mmseg', 'PEFTVisionTransformer'),
                        ('mmpretrain', 'PEFTVisionTransformer'),
                        ('mmdet', 'mmpretrain.PEFTVisionTransformer')]:
        check_adapter_hosts(
            dict(backbone=dict(type=name, adapter=adapter),
                 neck=dict(type='FPN', adapter=None)), scope)
