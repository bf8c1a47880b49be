"""The demo's pretrained backbones: shipped, or trained again.

The tiny Swin every demo fine-tuning starts from ships with the project
(``weights/demo/``, about 12 MB, with the source segmentor's heads)
because pretraining it well takes longer than the demo's budget on 2 CPU
cores. ``weights/demo/manifest.json``
records each file's sha256, which is checked before a run uses it, and
how it was made; ``tools/misc/pretrain_demo_backbone.py`` (or
``make demo DEMO_ARGS=--pretrain``) makes it again.
"""
import json
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Optional

from ..models.pretrained import save_backbone_weights, sha256_of
from .runs import Run, latest_checkpoint, train

MANIFEST = osp.join('weights', 'demo', 'manifest.json')
# The demo's fine-tuning heads start from the source segmentor's (see
# configs/demo/_base_/seg_demo.py); the classifiers of the source classes
# are not kept: every target task has a new one.
SOURCE_HEADS = ('decode_head.', 'auxiliary_head.')
CLASSIFIERS = ('.conv_seg.',)


@dataclass(frozen=True)
class PretrainedBackbone:
    """A demo backbone family: its pretraining config and the file its
    fine-tuning configs load (their ``init_cfg`` checkpoint). ``shipped``:
    the file is committed and listed in the manifest."""
    name: str
    config: str
    weights: str
    shipped: bool


class WeightsMismatch(RuntimeError):
    """A shipped weights file is missing or its sha256 is not the
    manifest's."""


def read_manifest(root: str) -> dict:
    with open(osp.join(root, MANIFEST)) as f:
        return json.load(f)


def check_shipped_weights(root: str, backbone: PretrainedBackbone) -> str:
    """The path of the shipped file after checking its sha256."""
    entry = read_manifest(root).get(osp.basename(backbone.weights))
    path = osp.join(root, backbone.weights)
    if entry is None:
        raise WeightsMismatch(f'{MANIFEST} lists no {backbone.weights}')
    if not osp.isfile(path):
        raise WeightsMismatch(
            f'{backbone.weights} is missing (a clone without its binary '
            'files?); make it again with --pretrain')
    digest = sha256_of(path)
    if digest != entry['sha256']:
        raise WeightsMismatch(
            f'{backbone.weights}: sha256 {digest} is not the '
            f"{entry['sha256']} recorded in {MANIFEST}; the file is "
            'damaged or was changed: restore it (git checkout) or make it '
            'again with --pretrain')
    return backbone.weights


def pretrain_backbone(root: str, backbone: PretrainedBackbone,
                      work_dir: str, out: str, threads: int,
                      options=(), meta: Optional[dict] = None) -> dict:
    """Train ``backbone.config`` from scratch (tools/train.py) in
    ``work_dir`` and write its backbone weights, and its heads without
    their classifiers, to ``out``; returns what the manifest records of
    it."""
    run = Run(f'pretraining {backbone.name}', 0, backbone.config, work_dir,
              list(options))
    train(root, run, threads)
    checkpoint = latest_checkpoint(root, work_dir)
    if checkpoint is None:
        raise RuntimeError(f'{work_dir}: the pretraining saved no checkpoint')
    digest = save_backbone_weights(
        osp.join(root, checkpoint), osp.join(root, out),
        meta=dict(meta or {}, config=backbone.config), heads=SOURCE_HEADS,
        drop=CLASSIFIERS)
    shutil.copy(osp.join(root, work_dir, 'train.log'),
                osp.join(root, out) + '.log')
    return dict(sha256=digest, config=backbone.config,
                seconds=round(run.seconds), metrics=run.metrics)
