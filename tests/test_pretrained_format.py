"""One pretrained-weights format for every consumer.

The demo's pretraining output (mmpeft.models.pretrained.save_backbone_weights
of a training checkpoint) must load, through the real ``init_weights`` of
the backbone, into every demo fine-tuning config (the mmdet Mask R-CNN one
included: mmdet's Swin keeps only ``backbone.`` keys) and into every
backbone family mmpeft wraps, with or without an ``init_cfg`` prefix, and
so must a file with bare backbone keys (what tools/model_converters write).
"""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config, ConfigDict
from tiny_models import BACKBONES, build_peft

from mmpeft.adapters.base import is_adapter_key
from mmpeft.apis import build_from_config
from mmpeft.models.pretrained import (BACKBONE_PREFIX, FORMAT,
                                      save_backbone_weights)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIGS = sorted(
    osp.basename(p)
    for p in glob.glob(osp.join(ROOT, 'configs', 'demo', '*.py'))
    if not osp.basename(p).startswith('pretrain_'))


def base_state(backbone):
    """The backbone's own weights (what a pretrained file provides)."""
    return {k: v for k, v in backbone.state_dict().items()
            if not is_adapter_key(k)}


def write_training_checkpoint(path, backbone):
    """What tools/train.py saves for a model with this backbone: the
    backbone under ``backbone.``, a head, optimizer state and meta."""
    state = {BACKBONE_PREFIX + k: v.clone()
             for k, v in base_state(backbone).items()}
    state['decode_head.conv_seg.weight'] = torch.randn(6, 4, 1, 1)
    torch.save(dict(state_dict=state, meta=dict(iter=10), optimizer={}),
               path)


def randomize(backbone):
    with torch.no_grad():
        for p in backbone.parameters():
            p.normal_()


def assert_loaded(backbone, expected):
    got = base_state(backbone)
    assert set(expected) <= set(got)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize('name', DEMO_CONFIGS)
def test_demo_configs_load_the_pretraining_output(name, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo', name))
    pretrained = cfg.model.backbone.init_cfg
    assert pretrained.type == 'Pretrained'
    cfg.model.backbone.init_cfg = None
    source = build_from_config(cfg).backbone
    randomize(source)
    write_training_checkpoint(tmp_path / 'iter_10.pth', source)
    out = tmp_path / 'weights.pth'
    save_backbone_weights(str(tmp_path / 'iter_10.pth'), str(out))

    cfg.model.backbone.init_cfg = dict(pretrained, checkpoint=str(out))
    target = build_from_config(cfg).backbone
    target.init_weights()
    assert_loaded(target, base_state(source))


def test_the_format_holds_backbone_keys_only(tmp_path):
    source = build_peft('mmseg-swin', tuning='full')
    write_training_checkpoint(tmp_path / 'iter.pth', source)
    save_backbone_weights(str(tmp_path / 'iter.pth'), str(tmp_path / 'w.pth'))
    saved = torch.load(tmp_path / 'w.pth', weights_only=True)
    assert saved['meta']['format'] == FORMAT
    assert set(saved['state_dict']) == {
        BACKBONE_PREFIX + k for k in base_state(source)}


@pytest.mark.parametrize('family', sorted(BACKBONES))
@pytest.mark.parametrize('form', ['mmpeft format', 'bare keys'])
@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_every_family_loads_both_forms(family, form, prefix, tmp_path):
    source = build_peft(family, tuning='full')
    randomize(source)
    expected = base_state(source)
    path = tmp_path / 'weights.pth'
    if form == 'bare keys':
        torch.save(expected, path)
    else:
        write_training_checkpoint(tmp_path / 'iter.pth', source)
        save_backbone_weights(str(tmp_path / 'iter.pth'), str(path))
    # As configs give it: mmdet's Swin reads init_cfg.checkpoint.
    init_cfg = ConfigDict(type='Pretrained', checkpoint=str(path))
    if prefix:
        init_cfg['prefix'] = prefix
    target = build_peft(family, tuning='full', init_cfg=init_cfg)
    target.init_weights()
    assert_loaded(target, expected)
    # The configured file is what the checkpoints record as the base.
    assert target.init_cfg['checkpoint'] == str(path)


def test_a_file_of_another_model_is_an_error_naming_it(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'backbone.fc.weight': torch.zeros(2, 2)}),
               path)
    backbone = build_peft('mmdet-swin', tuning='full', init_cfg=ConfigDict(
        type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r'other\.pth: none of its 1 keys'):
        backbone.init_weights()


SEG_DEMO_CONFIGS = [
    name for name in DEMO_CONFIGS
    if '_upernet_' in name and 'swin-t' in name]


@pytest.mark.parametrize('name', SEG_DEMO_CONFIGS)
def test_seg_demo_heads_start_from_the_source_segmentor(name, tmp_path):
    """The demo's file keeps the source heads without their classifiers:
    a seg demo model loads its backbone and both heads from it through
    ``init_weights``, and keeps a new classifier."""
    from mmpeft.demo.pretraining import CLASSIFIERS, SOURCE_HEADS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo', name))
    inits = {m: cfg.model[m].init_cfg
             for m in ('backbone', 'decode_head', 'auxiliary_head')}
    for module in inits:
        cfg.model[module].init_cfg = None
    source = build_from_config(cfg)
    randomize(source)
    torch.save(dict(state_dict=source.state_dict(), meta={}),
               tmp_path / 'iter.pth')
    out = str(tmp_path / 'w.pth')
    save_backbone_weights(str(tmp_path / 'iter.pth'), out,
                          heads=SOURCE_HEADS, drop=CLASSIFIERS)
    assert inits['decode_head'].prefix == 'decode_head.'
    for module, init in inits.items():
        cfg.model[module].init_cfg = dict(init, checkpoint=out)
    target = build_from_config(cfg)
    target.init_weights()
    got, want = target.state_dict(), source.state_dict()
    for key, value in want.items():
        if key.startswith((BACKBONE_PREFIX, ) + SOURCE_HEADS) and not (
                is_adapter_key(key)):
            same = torch.equal(got[key], value)
            assert same != ('.conv_seg.' in key), key
