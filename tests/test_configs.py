"""Every config under configs/ loads, builds and takes one training step.

The configs are discovered (all of ``configs/**/*.py`` except ``_base_`` and
``demo``), so a new config is tested without writing a test. Each one is
built as the config says (full architecture, real data preprocessor, real
heads and losses) with these test-only changes:

* pretrained loading is switched off (``Pretrained`` init configs and
  ``pretrained`` paths are dropped; building never loads weights anyway);
* inputs are tiny: a batch of two 32x32 images (mmseg's data preprocessor is
  told so, since its ``size`` pads every input to the training crop);
* SyncBN becomes BN (``revert_sync_batchnorm``), for one CPU process;
* mmpretrain's Swin gets ``pad_small_map=True``: it refuses maps smaller
  than its window otherwise (no parameter changes).
"""
import glob
import importlib.util
import math
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope

import mmpeft  # noqa: F401 (registers wrappers, adapters and the neck)
from mmpeft.adapters.base import is_adapter_key
from mmpeft.benchmark.synthetic import synthetic_batch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs')
SIZE = 32  # input side: a multiple of 32, as the detectors pad to it


def load_tool(name, *parts):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(ROOT, 'tools', *parts))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_model_zoo = load_tool('gen_model_zoo', 'misc', 'gen_model_zoo.py')
CONFIGS = gen_model_zoo.discover_configs()


def drop_pretrained(node):
    """Remove every Pretrained init config and ``pretrained`` path."""
    if isinstance(node, dict):
        if node.get('pretrained'):
            node['pretrained'] = None
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            node['init_cfg'] = None
        for value in node.values():
            drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_pretrained(value)


def build_tiny(cfg: Config):
    """The model of ``cfg`` for a CPU step on SIZE x SIZE inputs."""
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    # What the Runner does with a top-level data_preprocessor (mmpretrain).
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    drop_pretrained(model_cfg)
    if 'size' in model_cfg.get('data_preprocessor', {}):
        model_cfg.data_preprocessor.size = (SIZE, SIZE)
    if cfg.default_scope == 'mmpretrain' and \
            model_cfg.backbone.type.endswith('SwinTransformer'):
        model_cfg.backbone.pad_small_map = True
    return revert_sync_batchnorm(MODELS.build(model_cfg))


def tiny_batch(cfg: Config):
    """Two random SIZE x SIZE images with ground truth of the config's task
    (the benchmark's synthetic batches)."""
    return synthetic_batch(cfg, 2, (SIZE, SIZE))


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_one_step(config):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    # A model-level init_cfg re-initialises layers by type across the whole
    # model, adapters included (the backbone wrapper only shields them from
    # the backbone's own init).
    assert not cfg.model.get('init_cfg'), 'drop the model-level init_cfg'
    model = build_tiny(cfg)
    backbone = model.backbone
    assert hasattr(backbone, 'peft_report'), 'not an mmpeft wrapper'

    # Its row of docs/model_zoo.md and its README cells are up to date.
    assert gen_model_zoo.load_table().get(config) == \
        gen_model_zoo.table_row(config, cfg, model)
    cell = gen_model_zoo.readme_cell(model)
    assert all(c == cell
               for c in gen_model_zoo.readme_cells().get(config, []))

    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    data = model.data_preprocessor(tiny_batch(cfg), True)
    losses = model._run_forward(data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert math.isfinite(loss.item())
    optim_wrapper.backward(loss)

    names = {n for n, _ in backbone.named_parameters()}
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    with_grad = {n for n, p in backbone.named_parameters()
                 if p.grad is not None}
    assert with_grad == trainable
    if backbone.tuning == 'peft':
        adapters = {n for n in names if is_adapter_key(n)}
        patterns = cfg.model.backbone.get('extra_trainable', ())
        extra = {n for n in names if any(re.search(p, n) for p in patterns)}
        assert adapters and trainable == adapters | extra
    elif backbone.tuning == 'frozen':
        assert not trainable
    elif backbone.tuning == 'full':
        assert trainable == names
    else:  # bitfit, norm, partial: a selection of the backbone
        assert trainable and trainable < names
    assert any(p.grad is not None for n, p in model.named_parameters()
               if not n.startswith('backbone.'))
    optim_wrapper.step()


def test_downstream_config_changes_the_bottleneck(tmp_path):
    """A user's config inherits ours by path and changes one option."""
    ours = osp.join(CONFIG_DIR, 'adaptformer',
                    'adaptformer_vit-b16_mln_upernet_8xb2-160k_ade20k-'
                    '512x512.py')
    mine = tmp_path / 'adaptformer-d16_vit-b16_ade20k.py'
    mine.write_text(f'_base_ = [{ours!r}]\n'
                    'model = dict(backbone=dict(adapter=dict(bottleneck=16)))'
                    '\n')
    cfg = Config.fromfile(str(mine))
    assert cfg.model.backbone.adapter == dict(type='AdaptFormer',
                                              bottleneck=16)
    report = mmpeft.model_param_report(build_tiny(cfg))
    # 12 blocks x (2*C*d + d + C), C = 768, d = 16
    assert report['adapter_params'] == 12 * (2 * 768 * 16 + 16 + 768)
    assert report['backbone_other_trainable'] == 0


def test_model_zoo_lists_every_config():
    """docs/model_zoo.md has one row per config and is rendered as the
    generator renders it (the values are checked per config above)."""
    table = gen_model_zoo.load_table()
    assert sorted(table) == CONFIGS
    with open(gen_model_zoo.MODEL_ZOO) as f:
        assert f.read() == gen_model_zoo.render(table)


def test_metafiles_list_every_config():
    """One metafile.yml per folder lists exactly its configs, and the root
    model-index.yml imports every metafile."""
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    listed = []
    for metafile in imports:
        with open(osp.join(ROOT, metafile)) as f:
            meta = yaml.safe_load(f)
        collections = {c['Name'] for c in meta['Collections']}
        for model in meta['Models']:
            assert model['In Collection'] in collections
            assert model['Config'] == \
                f"{osp.dirname(metafile)}/{model['Name']}.py"
            listed.append(osp.relpath(model['Config'], 'configs'))
    assert sorted(listed) == CONFIGS


DEMO_CONFIGS = sorted(
    osp.relpath(p, CONFIG_DIR)
    for p in glob.glob(osp.join(CONFIG_DIR, 'demo', '*.py')))


@pytest.mark.parametrize('config', DEMO_CONFIGS)
def test_demo_config_trains_one_step(config):
    """The demo's own model sizes fit together (heads and backbone widths),
    without its pretrained checkpoint."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    model = build_tiny(cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    data = model.data_preprocessor(tiny_batch(cfg), True)
    loss, _ = model.parse_losses(model._run_forward(data, mode='loss'))
    assert math.isfinite(loss.item())
    optim_wrapper.update_params(loss)
