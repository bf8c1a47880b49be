"""tools/run_demo.py's tables agree with the demo configs: every config it
names exists, and every fine-tuning config loads the very file the
pretraining of its backbone family writes."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'run_demo', osp.join(ROOT, 'tools', 'run_demo.py'))
run_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_demo)

FINE_TUNING = list(run_demo.SEG_METHODS.values()) + [
    name for name, _ in run_demo.EXTRA_TASKS.values()
]


@pytest.mark.parametrize('name', FINE_TUNING)
def test_fine_tuning_config_loads_its_pretraining_output(name):
    cfg = Config.fromfile(osp.join(ROOT, run_demo.DEMO, name))
    pretraining_config, pretrained = run_demo.PRETRAINING[
        run_demo.backbone_of(name)]
    assert osp.isfile(osp.join(ROOT, pretraining_config))
    assert cfg.model.backbone.init_cfg.checkpoint == pretrained


def test_pretraining_configs_train_from_scratch():
    for config, _ in run_demo.PRETRAINING.values():
        cfg = Config.fromfile(osp.join(ROOT, config))
        assert cfg.model.backbone.init_cfg is None
        assert cfg.model.backbone.tuning == 'full'
        assert 'seg_source' in cfg.train_dataloader.dataset.data_root


def test_core_methods_are_the_default_study():
    assert run_demo.CORE_METHODS == [
        'full fine-tuning', 'frozen backbone', 'AdaptFormer', 'Convpass',
        'iConFormer'
    ]
