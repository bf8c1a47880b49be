"""SimpleFPN: ViTDet's simple feature pyramid (mmpeft/models/necks)."""
import math

import pytest
import torch
from mmdet.registry import MODELS

import mmpeft  # noqa: F401 (registers the neck)


def build(**kwargs):
    cfg = dict(type='SimpleFPN', _scope_='mmdet', backbone_channel=32,
               out_channels=8)
    cfg.update(kwargs)
    return MODELS.build(cfg)


@pytest.mark.parametrize('num_outs', [4, 5, 6])
def test_strides_and_channels(num_outs):
    neck = build(num_outs=num_outs)
    # A 64x96 image at stride 16; only the last backbone map is used.
    outs = neck([torch.randn(2, 32, 8, 8), torch.randn(2, 32, 4, 6)])
    strides = [4, 8, 16, 32, 64, 128][:num_outs]
    assert [tuple(o.shape) for o in outs] == [
        (2, 8, math.ceil(64 / s), math.ceil(96 / s)) for s in strides
    ]


def test_vitdet_layout():
    neck = build(num_outs=5)
    # stride 4: two deconvs around LN2d + GELU; stride 8: one deconv;
    # stride 16: identity; stride 32: max-pool.
    four, eight, sixteen, thirtytwo = neck.rescales
    assert [type(m).__name__ for m in four] == [
        'ConvTranspose2d', 'LayerNorm2d', 'GELU', 'ConvTranspose2d']
    assert (four[0].out_channels, four[3].out_channels) == (16, 8)
    assert eight.out_channels == 16
    assert isinstance(sixteen, torch.nn.Identity)
    assert isinstance(thirtytwo, torch.nn.MaxPool2d)
    assert [m.conv.in_channels for m in neck.lateral_convs] == [8, 16, 32, 32]
    for conv in list(neck.lateral_convs) + list(neck.fpn_convs):
        assert conv.norm_name == 'ln' and not conv.with_activation


def test_gradients_reach_every_parameter():
    neck = build(norm_cfg=dict(type='GN', num_groups=4))
    x = torch.randn(2, 32, 4, 4, requires_grad=True)
    sum(o.sum() for o in neck([x])).backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in neck.parameters())


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_outs=3), 'num_outs'),
    (dict(backbone_channel=30), 'divisible by 4'),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)
