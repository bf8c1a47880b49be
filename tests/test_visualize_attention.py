"""Attention rollout: recomputed attention equals what the modules compute,
the window bookkeeping of the Swin rollout equals a dense token-by-token
rollout, adapters change the maps, and the CLI writes the 3-panel grid."""
import copy
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from tiny_models import as_list, build_peft, build_plain

from mmpeft.analysis.attention_rollout import (AttentionRecorder,
                                               attention_rollout,
                                               discard_lowest, qkv_attention,
                                               swin_rollout, vit_rollout,
                                               window_attention, with_residual)
from mmpeft.models.injection import adapter_param_names

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ADAPTER = dict(type='iConFormer', bottleneck=8, generator_hidden=16)
SWIN_INPUT = (1, 3, 64, 64)  # window 3: every stage grid is padded
VIT_INPUT = (1, 3, 32, 32)


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Tiny models: intra-op threads only add contention on a shared CPU
    (a tiny Swin forward goes from ~10 ms to ~1 s with 2 busy threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise_adapters(model, std=0.3):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in adapter_param_names(model):
                param.normal_(0, std)


def paired(name):
    plain = build_plain(name)
    peft = build_peft(name, adapter=copy.deepcopy(ADAPTER))
    peft.load_state_dict(plain.state_dict(), strict=False)
    plain.eval()
    peft.eval()
    return plain, peft


def inputs_for(name):
    return torch.randn(*(SWIN_INPUT if 'swin' in name else VIT_INPUT))


# --------------------------------------------------------------------------
# the recomputed probabilities are the modules' own


def output_from(module, x, attn):
    """Attention output rebuilt from per-head probabilities."""
    B, N, C = x.shape
    v = module.qkv(x).reshape(B, N, 3, module.num_heads, -1)[:, :, 2]
    out = (attn @ v.transpose(1, 2)).transpose(1, 2).reshape(B, N, C)
    return module.proj(out)


@pytest.mark.parametrize('name', ['mmseg-swin', 'mmdet-swin',
                                  'mmpretrain-swin', 'mmpretrain-vit'])
def test_recomputed_attention_reproduces_module_outputs(name):
    model = build_plain(name)
    model.eval()
    calls = []
    for module in model.modules():
        if type(module).__name__ in ('WindowMSA', 'MultiheadAttention'):
            module.register_forward_hook(
                lambda m, a, kw, out: calls.append((m, a, kw, out)),
                with_kwargs=True)
    with torch.no_grad():
        model(inputs_for(name))
        assert calls
        for module, args, kwargs, out in calls:
            x = args[0]
            if 'swin' in name:
                mask = args[1] if len(args) > 1 else kwargs.get('mask')
                attn = window_attention(module, x, mask)
            else:
                attn = qkv_attention(module, x)
            assert torch.allclose(attn.sum(-1), torch.ones(()), atol=1e-5)
            # eval mode, no layer scale: the output is proj(attn @ v)
            assert (output_from(module, x, attn) - out).abs().max() < 1e-5


def test_recomputed_attention_matches_torch_weights_mmseg_vit():
    """mmseg's ViT runs nn.MultiheadAttention, whose own head-averaged
    weights must equal the recorder's mean fusion."""
    model = build_plain('mmseg-vit')
    model.eval()
    returned = []
    for layer in model.layers:
        layer.attn.attn.register_forward_hook(
            lambda m, a, out: returned.append(out[1]))
    with torch.no_grad(), AttentionRecorder(model, 'mean') as recorder:
        model(inputs_for('mmseg-vit'))
    assert len(recorder.records) == len(returned) == len(model.layers)
    for mine, theirs in zip(recorder.records, returned):
        assert (mine - theirs).abs().max() < 1e-6


@pytest.mark.parametrize('name', ['mmseg-swin', 'mmseg-vit'])
def test_recorder_leaves_outputs_unchanged_and_removes_hooks(name):
    model = build_plain(name)
    model.eval()
    x = inputs_for(name)
    with torch.no_grad():
        expected = as_list(model(x))
        with AttentionRecorder(model) as recorder:
            got = as_list(model(x))
        assert recorder.records
        count = len(recorder.records)
        model(x)
    assert len(recorder.records) == count  # hooks removed
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


# --------------------------------------------------------------------------
# rollout bookkeeping against dense products


def dense_window_matrix(record, discard_ratio):
    """The block's attention (with residual) as a (B, L, L) token matrix."""
    (H, W), ws, shift = record.hw, record.window, record.shift
    pad_h, pad_w = -(-H // ws) * ws, -(-W // ws) * ws
    attn = with_residual(discard_lowest(record.attn, discard_ratio))
    B = attn.shape[0]
    dense = attn.new_zeros(B, pad_h * pad_w, pad_h * pad_w)
    positions = []
    for a in range(pad_h // ws):
        for b in range(pad_w // ws):
            # window (a, b) of the rolled grid holds x[(p + shift) mod size]
            positions.append([((a * ws + r + shift) % pad_h) * pad_w +
                              (b * ws + c + shift) % pad_w
                              for r in range(ws) for c in range(ws)])
    for w, pos in enumerate(positions):
        index = torch.tensor(pos)
        dense[:, index[:, None], index[None, :]] = attn[:, w]
    real = torch.tensor([h * pad_w + c for h in range(H) for c in range(W)])
    return dense[:, real[:, None], real[None, :]]


def dense_unmerge(hw_child, hw_parent):
    (H, W), (h, w) = hw_child, hw_parent
    matrix = torch.zeros(h * w, H * W)
    for r in range(H):
        for c in range(W):
            matrix[(r // 2) * w + c // 2, r * W + c] = 0.25
    return matrix


@pytest.mark.parametrize('first_stage', [0, 2])
@pytest.mark.parametrize('discard_ratio', [0.0, 0.5])
def test_swin_rollout_equals_dense_rollout(first_stage, discard_ratio):
    model = build_plain('mmseg-swin')
    model.eval()
    with torch.no_grad(), AttentionRecorder(model, 'max') as recorder:
        model(torch.randn(2, 3, 64, 80))  # non-square, padded everywhere
    records = recorder.records
    assert any(r.shift for r in records)
    H, W = records[-1].hw
    v = torch.full((2, H * W), 1.0 / (H * W))
    stage = records[-1].stage
    for record in reversed(records):
        if record.stage < first_stage:
            break
        if record.stage != stage:
            parent = next(r.hw for r in records if r.stage == stage)
            v = v @ dense_unmerge(record.hw, parent)
            stage = record.stage
        v = torch.einsum('bi,bij->bj', v,
                         dense_window_matrix(record, discard_ratio))
    expected = v.view(2, *next(r.hw for r in records
                               if r.stage == first_stage))
    got = swin_rollout(records, first_stage, discard_ratio)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize('discard_ratio', [0.0, 0.9])
def test_vit_rollout_equals_matrix_product(discard_ratio):
    model = build_plain('mmpretrain-vit')
    model.eval()
    with torch.no_grad(), AttentionRecorder(model, 'mean') as recorder:
        model(inputs_for('mmpretrain-vit'))
    result = torch.eye(recorder.records[0].shape[-1])[None]
    for attn in recorder.records:  # Abnar & Zuidema: A_L ... A_1
        attn = with_residual(discard_lowest(attn, discard_ratio, True))
        result = attn @ result
    expected = result[:, 0, 1:].reshape(1, *recorder.grid)
    got = vit_rollout(recorder.records, recorder.grid, 1, 'cls',
                      discard_ratio)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-10)


# --------------------------------------------------------------------------
# adapters change the maps


@pytest.mark.parametrize('name', ['mmseg-swin', 'mmpretrain-swin',
                                  'mmseg-vit', 'mmpretrain-vit'])
def test_adapters_change_the_rollout(name):
    plain, peft = paired(name)
    x = inputs_for(name)
    base = attention_rollout(plain, x)
    # zero-initialised adapters: the same network, the same map
    assert (attention_rollout(peft, x) - base).abs().max() < 1e-6
    randomise_adapters(peft)
    adapted = attention_rollout(peft, x)
    assert adapted.shape == base.shape
    expected_grid = (16, 16) if 'swin' in name else (4, 4)
    assert tuple(base.shape[-2:]) == expected_grid
    relative = (adapted - base).abs().max() / base.abs().max()
    assert relative > 1e-3, relative


def test_rollout_checks_its_arguments():
    model = build_plain('mmseg-swin')
    with pytest.raises(RuntimeError, match='eval'):
        attention_rollout(model, inputs_for('mmseg-swin'))
    model.eval()
    with pytest.raises(ValueError, match='head_fusion'):
        attention_rollout(model, inputs_for('mmseg-swin'), head_fusion='sum')
    with pytest.raises(ValueError, match='first_stage'):
        attention_rollout(model, inputs_for('mmseg-swin'), first_stage=4)


# --------------------------------------------------------------------------
# the CLI

CONFIGS = {
    'swin': """
default_scope = 'mmseg'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
crop_size = (64, 64)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        type='PEFTSwinTransformer', pretrain_img_size=64, embed_dims=16,
        depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), window_size=3,
        adapter=dict(type='iConFormer', bottleneck=8, generator_hidden=16),
        init_cfg=dict(type='Pretrained', checkpoint='never-downloaded.pth')))
""",
    'vit': """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        type='PEFTVisionTransformer',
        arch=dict(embed_dims=32, num_layers=4, num_heads=2,
                  feedforward_channels=64),
        img_size=32, patch_size=8,
        adapter=dict(type='iConFormer', bottleneck=8, generator_hidden=16)))
""",
}


def load_cli():
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'visualize_attention.py')
    spec = importlib.util.spec_from_file_location('_visualize_attention',
                                                  path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.parametrize('family,base_checkpoint', [('swin', False),
                                                    ('vit', True)])
def test_cli_writes_three_panel_grid(tmp_path, family, base_checkpoint):
    name = 'mmseg-swin' if family == 'swin' else 'mmpretrain-vit'
    config = tmp_path / 'config.py'
    config.write_text(CONFIGS[family])
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.random.RandomState(0).randint(
        0, 255, (50, 70, 3), dtype=np.uint8))
    # a "trained" PEFT model: random backbone, randomised adapters
    peft = build_peft(name, adapter=copy.deepcopy(ADAPTER))
    randomise_adapters(peft)
    checkpoint = tmp_path / 'adapted.pth'
    torch.save({'meta': {'iter': 1}, 'state_dict': {
        f'backbone.{k}': v for k, v in peft.state_dict().items()}},
        checkpoint)
    size = 64 if family == 'swin' else 32
    argv = [str(image), str(config), '--checkpoint', str(checkpoint),
            '--out', str(tmp_path / 'grid.png')]
    if base_checkpoint:  # a plain backbone state dict (converted-file form)
        base = tmp_path / 'base.pth'
        torch.save({k: v for k, v in peft.state_dict().items()
                    if '.adapters.' not in k}, base)
        argv += ['--base-checkpoint', str(base), '--head-fusion', 'max',
                 '--discard-ratio', '0.5', '--size', str(size)]
    maps = load_cli().main(argv)
    grid = cv2.imread(str(tmp_path / 'grid.png'))
    gap = 4
    assert grid.shape == (size, 3 * size + 2 * gap, 3)
    assert maps[0].shape == maps[1].shape == (size, size)
    assert np.abs(maps[0] - maps[1]).max() > 1e-3
    # the two map panels differ as images too
    left = grid[:, size + gap:2 * size + gap].astype(int)
    right = grid[:, 2 * (size + gap):].astype(int)
    assert np.abs(left - right).max() > 0


def test_cli_runs_on_a_scope_prefixed_vit_config(tmp_path):
    """Our ViT Mask R-CNN config (mmdet scope) names its backbone
    'mmpretrain.PEFTVisionTransformer'; the base backbone is
    'mmpretrain.VisionTransformer' without the wrapper's options."""
    config = osp.join(ROOT, 'configs', 'adaptformer',
                      'adaptformer_vit-b16-mae-pre_mask-rcnn_simple-fpn_'
                      '8xb2-1x_coco.py')
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.zeros((32, 32, 3), dtype=np.uint8) + 128)
    tool = load_cli()
    from mmengine.config import Config
    adapted, base = tool.backbone_configs(Config.fromfile(config))
    assert adapted.type == 'mmpretrain.PEFTVisionTransformer'
    assert base.type == 'mmpretrain.VisionTransformer'
    assert 'adapter' not in base
    tiny = ['model.backbone.arch=deit-tiny',
            'model.backbone.adapter.bottleneck=4']
    maps = tool.main([str(image), config, '--out', str(tmp_path / 'g.png'),
                      '--size', '32', '--cfg-options', *tiny])
    assert maps[0].shape == (32, 32)


def test_eva02_rollout_recomputes_its_rope_attention():
    """The recorded maps equal the attention ViTEVA02 computes (RoPE on
    q and k of the grid tokens)."""
    model = build_plain('mmpretrain-eva02')
    model.eval()
    seen = []
    for layer in model.layers:
        layer.attn.attn_drop.register_forward_hook(
            lambda m, a, out: seen.append(a[0].mean(1)))
    with AttentionRecorder(model) as recorder, torch.no_grad():
        model(torch.randn(*VIT_INPUT))
    assert len(recorder.records) == len(seen) == 4
    for recorded, computed in zip(recorder.records, seen):
        assert torch.allclose(recorded, computed, atol=1e-5)
    assert attention_rollout(model, torch.randn(*VIT_INPUT)).shape == (1, 4,
                                                                       4)
