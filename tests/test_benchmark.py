"""tools/analysis_tools/benchmark.py (and mmpeft.benchmark) on tiny
configs: the Swin + UPerNet rows, every adapter kind alone, the bf16 and
with_cp rows, and the JSON of every demo config."""
import glob
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from contextlib import redirect_stdout

import pytest
import torch

from mmpeft.benchmark.config_surgery import method_backbone
from mmpeft.benchmark.methods import parse_method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py')

TINY_CONFIG = """
_base_ = ['mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py']
crop_size = (64, 64)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                  window_size=3, init_cfg=None),
    decode_head=dict(in_channels=[16, 32, 64, 128], channels=16,
                     num_classes=5),
    auxiliary_head=dict(in_channels=64, channels=8, num_classes=5))
"""  # noqa: E501

METHODS = ('full', 'floor', 'head', 'adaptformer', 'adaptformer@last4',
           'convpass', 'iconformer')
ROW_KEYS = {
    'method', 'kind', 'params', 'trainable_params', 'backbone_params',
    'adapter_params', 'weights_mb', 'optimizer_params', 'optimizer_tensors',
    'optimizer_warnings', 'input_checksum', 'train_step_s',
    'train_step_cpu_s', 'train_peak_mb',
    'train_step_extra_mb', 'memory_measure', 'train_loss',
    'blocks_with_autograd', 'blocks', 'ratios'
}
INFER_KEYS = {'gflops', 'backbone_gflops', 'adapter_gflops', 'infer_b1_ms',
              'infer_bN_ms', 'infer_b1_cpu_ms', 'infer_bN_cpu_ms'}
ADAPTER_KEYS = {'adapters_train_ms', 'adapters_infer_b1_ms',
                'adapters_infer_bN_ms', 'adapters_train_cpu_ms',
                'adapters_infer_bN_cpu_ms', 'adapter_calls'}
SUMMARY_KEYS = {'median', 'min', 'max', 'n', 'spread'}


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('mmpeft_benchmark', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / 'tiny_swin_upernet.py'
    path.write_text(TINY_CONFIG)
    return str(path)


def run_in_process(tool, argv):
    threads = torch.get_num_threads()
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            report = tool.main(argv)
    finally:
        torch.set_num_threads(threads)
    return report, out.getvalue()


def test_json_fields_and_ratios(tool, tiny_config, tmp_path):
    out_file = tmp_path / 'bench.json'
    report, stdout = run_in_process(tool, [
        tiny_config, '--methods', ','.join(METHODS), '--isolation', 'none',
        '--batch', '2', '--infer-batch', '3', '--iters', '1', '--warmup',
        '1', '--adapter-options', 'bottleneck=8', '--json', '--out',
        str(out_file)
    ])
    assert json.loads(stdout) == json.loads(out_file.read_text())
    assert set(report) == {'config', 'settings', 'machine', 'methods'}
    settings = report['settings']
    assert settings['shape'] == [64, 64] and settings['infer_batch'] == 3
    rows = report['methods']
    assert list(rows) == list(METHODS)

    for name, row in rows.items():
        assert ROW_KEYS <= set(row), (name, ROW_KEYS - set(row))
        assert SUMMARY_KEYS <= set(row['train_step_s'])
        assert row['train_step_s']['median'] > 0
        # Same inputs for every method; the optimizer holds exactly the
        # trainable parameters and logs no warning per frozen one.
        assert row['input_checksum'] == rows['full']['input_checksum']
        assert row['optimizer_params'] == row['trainable_params'] > 0
        assert row['optimizer_warnings'] == 0
        assert row['blocks'] == 8
        ratios = row['ratios']
        assert row['train_step_cpu_s']['median'] > 0
        for key in ('train_step_s_vs_full', 'train_step_s_vs_floor',
                    'train_step_s_vs_head', 'train_step_cpu_s_vs_floor',
                    'train_peak_mb_vs_full', 'train_step_s_head_to_floor'):
            assert key in ratios

    full, floor, head = rows['full'], rows['floor'], rows['head']
    assert full['ratios']['train_step_s_vs_full'] == pytest.approx(1.0)
    assert floor['ratios']['train_step_s_vs_floor'] == pytest.approx(1.0)
    assert full['trainable_params'] == full['params']
    # floor: one (C,) shift at the patch embedding trains; head: nothing.
    assert floor['trainable_params'] - head['trainable_params'] == 16
    assert head['backbone_params'] + 16 == floor['backbone_params']
    # Autograd reaches every block for full, floor and adapters everywhere,
    # no block for head only, and only the last 4 for adapters there.
    assert full['blocks_with_autograd'] == floor['blocks_with_autograd'] == 8
    assert head['blocks_with_autograd'] == 0
    assert rows['adaptformer']['blocks_with_autograd'] == 8
    assert rows['adaptformer@last4']['blocks_with_autograd'] == 4

    # Inference only for networks that differ from the plain model.
    for name in ('floor', 'head'):
        assert not INFER_KEYS & set(rows[name])
    for name in ('full', 'adaptformer', 'adaptformer@last4', 'convpass',
                 'iconformer'):
        row = rows[name]
        assert INFER_KEYS <= set(row), name
        assert row['infer_bN_ms']['n'] == 1
        assert 'infer_b1_ms_vs_plain' in row['ratios']
    assert full['ratios']['infer_b1_ms_vs_plain'] == pytest.approx(1.0)
    assert full['adapter_gflops'] == 0
    for name in ('adaptformer', 'convpass', 'iconformer'):
        row = rows[name]
        assert ADAPTER_KEYS <= set(row), name
        assert row['adapter_params'] > 0
        assert row['gflops'] > full['gflops']
        assert row['adapter_gflops'] > 0
        assert row['gflops'] == pytest.approx(
            full['gflops'] + row['adapter_gflops'])
        assert row['ratios']['adapters_train_ms_vs_adaptformer'] > 0
    # Convpass adapts both sub-blocks: two calls per block.
    assert rows['convpass']['adapter_calls'] == 16
    assert rows['iconformer']['adapter_calls'] == 8
    assert rows['adaptformer@last4']['adapter_calls'] == 4
    assert rows['adaptformer']['ratios'][
        'adapters_train_ms_vs_adaptformer'] == pytest.approx(1.0)


def test_table_lists_every_method(tool, tiny_config):
    _, stdout = run_in_process(tool, [
        tiny_config, '--methods', 'full,frozen,iconformer@last2',
        '--isolation', 'none', '--iters', '1', '--inference', 'separate',
        '--adapter-options', 'bottleneck=8', 'generator_hidden=4', '--clock',
        'cpu'
    ])
    lines = stdout.splitlines()
    assert lines[0].startswith('| method')
    names = [line.split('|')[1].strip() for line in lines[2:5]]
    assert names == ['full', 'frozen', 'iconformer@last2']
    assert 'config:' in stdout and 'threads' in stdout
    assert 'CPU time of the process' in stdout
    assert 'inference separate' in stdout
    full, frozen, icon = (line.split('|') for line in lines[2:5])
    assert frozen[13].strip() == '= full'  # infer b1 ms
    assert float(full[14]) == pytest.approx(1.0)  # x plain
    assert float(icon[13].split()[0]) > 0


def test_amp_on_cpu_is_bfloat16_autocast(tool, tiny_config):
    report, _ = run_in_process(tool, [
        tiny_config, '--methods', 'adaptformer,convpass,iconformer',
        '--isolation', 'none', '--iters', '1', '--skip-inference', '--amp',
        '--adapter-options', 'bottleneck=8', '--json',
        '--cfg-options', 'model.backbone.with_cp=True'
    ])
    assert report['settings']['amp'] is True
    for row in report['methods'].values():
        assert math.isfinite(row['train_loss'])


def test_bad_method_names_fail_before_measuring(tool, tiny_config):
    with pytest.raises(ValueError, match='unknown method'):
        tool.main([tiny_config, '--methods', 'full,dora'])
    with pytest.raises(ValueError, match='@lastN'):
        tool.main([tiny_config, '--methods', 'adaptformer@first3'])
    with pytest.raises(ValueError, match='adapter methods only'):
        tool.main([tiny_config, '--methods', 'full@last2'])


def test_one_process_per_method_gives_comparable_memory(tiny_config):
    """The CLI as users run it: a subprocess per method, pure JSON out."""
    result = subprocess.run([
        sys.executable, TOOL, tiny_config, '--methods', 'full,head',
        '--iters', '1', '--skip-inference', '--json', '--threads', '1'
    ], capture_output=True, text=True, cwd=ROOT, check=True)
    report = json.loads(result.stdout)
    assert report['settings']['isolation'] == 'process'
    full, head = report['methods']['full'], report['methods']['head']
    # Each process counts from before its model exists: weights, gradients,
    # Adam state and activations of full fine-tuning exceed head-only's.
    assert full['train_peak_mb'] > head['train_peak_mb'] > 0
    assert full['train_peak_mb'] > full['weights_mb']
    assert 'peak RSS' in full['memory_measure']


TINY_VIT_CONFIG = """
_base_ = ['mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k-384px.py']
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=4,
                            num_heads=2,
                            feedforward_channels=64),
                  img_size=32, patch_size=8, init_cfg=None),
    head=dict(in_channels=32, num_classes=5))
"""


def test_every_adapter_kind_is_timed_alone(tool, tiny_config, tmp_path):
    """Token adapters, E3VA's side adapters, LoRA (Swin) and VPT (ViT)."""
    swin, _ = run_in_process(tool, [
        tiny_config, '--methods', 'e3va,lora', '--isolation', 'none',
        '--iters', '1', '--warmup', '0', '--adapter-options', 'bottleneck=4',
        '--json', '--inference', 'separate'])
    vit_config = tmp_path / 'tiny_vit.py'
    vit_config.write_text(TINY_VIT_CONFIG)
    vit, _ = run_in_process(tool, [
        str(vit_config), '--methods', 'vptdeep,lora', '--isolation', 'none',
        '--iters', '1', '--warmup', '0', '--json', '--shape', '32', '32'])
    rows = dict(swin['methods'], **{'vit-' + k: v
                                    for k, v in vit['methods'].items()})
    # E3VA: two adapters per block (attention and MLP branch); LoRA: q and
    # v of every block; VPT: one prompt set per block.
    assert rows['e3va']['adapter_calls'] == 16
    assert rows['lora']['adapter_calls'] == 16
    assert rows['vit-vptdeep']['adapter_calls'] == 4
    assert rows['vit-lora']['adapter_calls'] == 8
    for name, row in rows.items():
        assert ADAPTER_KEYS <= set(row), name
        assert row['adapters_train_ms']['median'] > 0, name


def test_e3va_bf16_and_with_cp_rows(tool, tiny_config):
    report, _ = run_in_process(tool, [
        tiny_config, '--methods',
        'full,head,e3va,adaptformer+bf16,head+bf16,full+cp,adaptformer+cp',
        '--isolation', 'none', '--iters', '1', '--warmup', '0',
        '--adapter-options', 'bottleneck=4', '--json'])
    rows = report['methods']
    # E3VA back-propagates through no block of the backbone.
    assert rows['e3va']['blocks_with_autograd'] == 0
    assert rows['e3va']['adapter_params'] > 0
    assert rows['full+cp']['with_cp'] is True
    assert rows['adaptformer+bf16']['frozen_dtype'] == 'bf16'
    # bf16 storage halves the frozen weights' bytes.
    assert rows['head+bf16']['weights_mb'] < 0.6 * rows['head']['weights_mb']
    # Rows whose network differs from the plain one are timed at inference.
    for name in ('e3va', 'adaptformer+bf16', 'head+bf16'):
        assert 'infer_b1_ms' in rows[name], name
    for row in rows.values():
        assert math.isfinite(row['train_loss'])
        assert 'train_peak_mb_vs_head' in row['ratios']


def test_option_suffixes_are_checked():
    assert parse_method('iconformer@last2+bf16+cp') == dict(
        name='iconformer@last2+bf16+cp', kind='adapter', adapter='iConFormer',
        adapter_blocks=dict(last=2), frozen_dtype='bf16', with_cp=True)
    with pytest.raises(ValueError, match=r'unknown option \+fp8'):
        parse_method('adaptformer+fp8')
    with pytest.raises(ValueError, match='no frozen weight'):
        parse_method('full+bf16')


@pytest.mark.parametrize('backbone_type, scope, wrapper', [
    ('SwinTransformer', 'mmseg', 'PEFTSwinTransformer'),
    ('PEFTSwinTransformer', 'mmdet', 'PEFTSwinTransformer'),
    ('mmpretrain.VisionTransformer', 'mmdet',
     'mmpretrain.PEFTVisionTransformer'),
    ('mmpretrain.PEFTVisionTransformer', 'mmdet',
     'mmpretrain.PEFTVisionTransformer'),
])
def test_the_wrapper_type_keeps_the_scope_prefix(backbone_type, scope,
                                                 wrapper):
    backbone = method_backbone(dict(type=backbone_type, adapter=dict()),
                               parse_method('full'), scope)
    assert backbone == dict(type=wrapper, tuning='full')


DEMO_CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'demo',
                                             '*.py')))


@pytest.mark.parametrize('config', DEMO_CONFIGS,
                         ids=[os.path.basename(c) for c in DEMO_CONFIGS])
def test_json_for_every_demo_config(tool, config):
    """Each demo config's own model (Mask R-CNN and depth included), with
    its pretrained checkpoint switched off."""
    report, stdout = run_in_process(tool, [
        config, '--methods', 'full,head', '--isolation', 'none', '--batch',
        '2', '--iters', '1', '--warmup', '0', '--json', '--cfg-options',
        'model.backbone.init_cfg=None'])
    assert json.loads(stdout)['methods'].keys() == {'full', 'head'}
    for row in report['methods'].values():
        assert math.isfinite(row['train_loss'])
    assert report['methods']['full']['gflops'] > 0


def test_batch_one_with_batchnorm_heads_says_what_to_do(tool, tiny_config):
    with pytest.raises(ValueError, match='--batch 1: a BatchNorm'):
        run_in_process(tool, [tiny_config, '--methods', 'head',
                              '--isolation', 'none', '--batch', '1',
                              '--iters', '1', '--skip-inference'])
