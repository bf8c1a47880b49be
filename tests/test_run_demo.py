"""tools/run_demo.py: its tables agree with the demo configs, the shipped
weights are checked, and the whole pipeline runs (``--smoke``: every stage
and task, a few iterations) and fails when a stage fails."""
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmpeft.demo import Run, run_all
from mmpeft.demo.pretraining import WeightsMismatch, check_shipped_weights
from mmpeft.demo.runs import RunFailed

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'run_demo', osp.join(ROOT, 'tools', 'run_demo.py'))
run_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_demo)

FINE_TUNING = list(run_demo.SEG_METHODS.values()) + [
    name for name, _, _ in run_demo.EXTRA_TASKS.values()
]


@pytest.mark.parametrize('name', FINE_TUNING)
def test_fine_tuning_config_loads_its_backbone_weights(name):
    cfg = Config.fromfile(osp.join(ROOT, run_demo.DEMO, name))
    backbone = run_demo.BACKBONES[run_demo.backbone_of(name)]
    assert osp.isfile(osp.join(ROOT, backbone.config))
    assert cfg.model.backbone.init_cfg.checkpoint == backbone.weights


def test_pretraining_configs_train_from_scratch():
    for backbone in run_demo.BACKBONES.values():
        cfg = Config.fromfile(osp.join(ROOT, backbone.config))
        assert cfg.model.backbone.init_cfg is None
        assert cfg.model.backbone.tuning == 'full'
        assert 'seg_source' in cfg.train_dataloader.dataset.data_root


def test_core_methods_are_the_default_study():
    assert run_demo.CORE_METHODS == [
        'full fine-tuning', 'frozen backbone', 'AdaptFormer', 'Convpass',
        'iConFormer'
    ]
    assert run_demo.parse_args([]).seeds == [0, 1, 2]


def test_shipped_weights_match_the_manifest_and_a_changed_file_is_refused(
        tmp_path):
    backbone = run_demo.BACKBONES['swin-t']
    assert check_shipped_weights(ROOT, backbone) == backbone.weights
    # A copy of the project with one byte of the weights changed.
    os.makedirs(tmp_path / 'weights' / 'demo')
    shutil.copy(osp.join(ROOT, 'weights', 'demo', 'manifest.json'),
                tmp_path / 'weights' / 'demo')
    data = bytearray(open(osp.join(ROOT, backbone.weights), 'rb').read())
    data[-1] ^= 1
    (tmp_path / backbone.weights).write_bytes(bytes(data))
    with pytest.raises(WeightsMismatch, match='sha256 .* is not the'):
        check_shipped_weights(str(tmp_path), backbone)
    os.remove(tmp_path / backbone.weights)
    with pytest.raises(WeightsMismatch, match='is missing'):
        check_shipped_weights(str(tmp_path), backbone)


def test_a_failing_run_fails_with_its_log(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text("_base_ = ['missing_base.py']\n")
    runs = [Run('broken', 0, str(bad), str(tmp_path / 'work'))]
    with pytest.raises(RunFailed, match=r'tools/train.py failed .*train\.log'):
        run_all(ROOT, runs, 1, describe=str, log=lambda line: None)


def test_smoke_demo_runs_every_stage_and_task(tmp_path):
    """What CI guards: the whole demo on a few images (this takes about
    two minutes)."""
    work, data = tmp_path / 'work', tmp_path / 'data'
    run = subprocess.run(
        [sys.executable, 'tools/run_demo.py', '--smoke', '--work-dir',
         str(work), '--data', str(data)],
        cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    report = (work / 'results.md').read_text()
    for method in run_demo.CORE_METHODS:
        assert f'| {method} |' in report
    for task in run_demo.EXTRA_TASKS:
        assert f'| {task} |' in report
    for figure in ('results.png', 'loss_curves.png',
                   'attention_rollout.png'):
        assert (work / figure).stat().st_size > 1000, figure
    # One progress line per finished run: 2 tasks + 5 methods x 2 seeds.
    progress = [line for line in run.stdout.splitlines()
                if line.startswith('[') and 'left' in line]
    assert len(progress) == 12 and progress[-1].startswith('[12/12]')
    stamp = json.loads((work / 'pretrain_swin-t_source.pth.json').read_text())
    assert stamp['sha256'] and 'mIoU' in stamp['metrics']
