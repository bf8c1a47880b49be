"""tools/analysis_tools/count_params.py on the reference configs."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, 'tools', 'analysis_tools', 'count_params.py')
KEYS = {'backbone_params', 'adapter_params', 'adapter_percent',
        'backbone_other_trainable', 'head_trainable'}


def run_tool(config, *extra):
    result = subprocess.run(
        [sys.executable, TOOL, os.path.join(ROOT, 'configs', config), *extra],
        capture_output=True, text=True, cwd=ROOT, check=True)
    return result.stdout


@pytest.mark.parametrize('config,adapter_params', [
    ('adaptformer/adaptformer_vit-b16_mln_upernet_8xb2-160k_ade20k-'
     '512x512.py', 1_189_632),
    ('convpass/convpass_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py',
     327_552),
])
def test_json_report(config, adapter_params):
    report = json.loads(run_tool(config, '--json'))
    assert set(report) == KEYS
    assert report['adapter_params'] == adapter_params
    assert report['backbone_other_trainable'] == 0
    assert report['head_trainable'] > 0
    assert report['adapter_percent'] == pytest.approx(
        100 * adapter_params / report['backbone_params'])


def test_table_report_and_cfg_options():
    out = run_tool(
        'iconformer/iconformer_swin-b-in22k-pre_upernet_8xb2-160k_ade20k-'
        '512x512.py', '--cfg-options', 'model.backbone.tuning=full',
        'model.backbone.adapter=None')
    lines = dict(line.rsplit(None, 1) for line in out.strip().splitlines()
                 if line and not line[0].isdigit())
    assert lines['adapter parameters'] == '0'
    assert lines['other trainable backbone parameters'] == lines[
        'backbone parameters (no adapters)']
