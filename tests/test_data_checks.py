"""Bad data gives an error naming the file: a missing image, label map or
annotation file, an 8-bit depth PNG where 16-bit is expected, a COCO json
with a broken polygon. The datasets are the demo configs' (real ADE20K,
COCO and NYU-v2 layouts), built as the Runner builds them."""
import glob
import json
import logging
import os.path as osp
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS as DET_DATASETS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DATASETS, init_default_scope
from mmseg.datasets.transforms import LoadDepthAnnotation

import mmpeft  # noqa: F401 (registers the checked dataset and transform)
from mmpeft.datasets import (CheckedCocoDataset, DataError,
                             LoadCheckedDepthAnnotation, generate_demo_data)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'demo')
CONFIGS = {
    'seg_target': 'iconformer_swin-t_upernet_demo-target-64x64.py',
    'coco_target': 'iconformer_swin-t_mask-rcnn_demo-coco-target-64x64.py',
    'nyu_target': 'iconformer_swin-t_vpd-head_demo-nyu-target-64x64.py',
}


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp('pristine')
    generate_demo_data(str(out), num_train=4, num_val=2,
                       datasets=tuple(CONFIGS))
    return out


@pytest.fixture
def data(pristine, tmp_path):
    """A copy of the demo data that a test may damage."""
    shutil.copytree(pristine, tmp_path / 'data')
    return tmp_path / 'data'


def build_dataset(name, data_root, split='train', **changes):
    cfg = Config.fromfile(osp.join(DEMO, CONFIGS[name]))
    init_default_scope(cfg.default_scope)
    dataset = cfg[f'{split}_dataloader'].dataset.copy()
    dataset.update(data_root=str(data_root / name), **changes)
    return DATASETS.build(dataset)


# Missing files: the upstream loaders already name them.


def test_missing_image_names_the_file(data):
    dataset = build_dataset('seg_target', data)
    path = dataset.get_data_info(0)['img_path']
    shutil.move(path, path + '.moved')
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        dataset[0]


def test_missing_label_map_names_the_file(data):
    dataset = build_dataset('seg_target', data)
    path = dataset.get_data_info(0)['seg_map_path']
    shutil.move(path, path + '.moved')
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        dataset[0]


def test_missing_coco_json_names_the_file(data):
    path = data / 'coco_target' / 'annotations' / 'instances_train.json'
    path.unlink()
    with pytest.raises(FileNotFoundError, match='instances_train.json'):
        build_dataset('coco_target', data)


def test_missing_coco_image_names_the_file(data):
    dataset = build_dataset('coco_target', data)
    path = dataset.get_data_info(0)['img_path']
    shutil.move(path, path + '.moved')
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        dataset[0]


# COCO segmentations.


def edit_first_segmentation(data, segmentation):
    """Give the first annotation of the training json ``segmentation``;
    returns the json path and the annotation id."""
    path = data / 'coco_target' / 'annotations' / 'instances_train.json'
    coco = json.loads(path.read_text())
    coco['annotations'][0]['segmentation'] = segmentation
    path.write_text(json.dumps(coco))
    return str(path), coco['annotations'][0]['id']


@pytest.mark.parametrize('segmentation, defect', [
    ([[10, 10, 20, 10, 20]], 'a polygon of 5 coordinates, an odd number'),
    ([[10, 10, 20, '10', 20, 20]], "holding '10', not a number"),
    ([[10, 10, 20, float('nan'), 20, 20]], 'a polygon holding nan'),
    ([[10, 10, 20, 10, 20, 20], 7], 'a polygon that is int'),
    ([], 'an empty segmentation'),
    ('10 10 20 10 20 20', 'of type str'),
    (dict(counts='abc', size=[32, 32]), 'RLE mask of size'),
    (dict(size=[64, 64]), "without 'counts'"),
])
def test_broken_segmentation_names_file_and_annotation(
        data, segmentation, defect):
    path, ann_id = edit_first_segmentation(data, segmentation)
    with pytest.raises(DataError) as error:
        build_dataset('coco_target', data)
    message = str(error.value)
    assert message.startswith(path) and f'annotation id {ann_id}' in message
    assert defect in message


class Warnings(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_degenerate_polygon_is_dropped_with_a_warning(data):
    polygon = [[10, 10, 20, 10, 20, 20, 10, 20], [30, 30, 40, 30]]
    path, ann_id = edit_first_segmentation(data, polygon)
    init_default_scope('mmdet')
    logger, warnings = MMLogger.get_current_instance(), Warnings()
    logger.addHandler(warnings)
    try:
        dataset = build_dataset('coco_target', data)
    finally:
        logger.removeHandler(warnings)
    # Loaded as mmdet loads it: the short polygon is left for LoadAnnotations
    # to drop.
    assert len(dataset) > 0
    assert f'{path}: 1 polygon(s) with fewer than 3 points dropped ' \
        '(as mmdet does)' in warnings.messages, warnings.messages
    with pytest.raises(DataError, match=f'annotation id {ann_id} .*fewer '
                       'than 3 points'):
        build_dataset('coco_target', data, degenerate_polygons='error')
    with pytest.raises(ValueError, match="degenerate_polygons='drop'"):
        build_dataset('coco_target', data, degenerate_polygons='drop')


def test_sound_json_loads_exactly_as_mmdet(pristine):
    checked = build_dataset('coco_target', pristine)
    assert isinstance(checked, CheckedCocoDataset)
    plain = CocoDataset(
        data_root=checked.data_root, ann_file=checked.ann_file,
        data_prefix=checked.data_prefix, metainfo=checked.metainfo,
        filter_cfg=checked.filter_cfg, pipeline=[])
    assert [plain.get_data_info(i) for i in range(len(plain))] == \
        [checked.get_data_info(i) for i in range(len(checked))]


# Depth maps.


def depth_results(path):
    return dict(depth_map_path=str(path), seg_fields=[])


def test_8bit_depth_png_names_the_file(data):
    path = sorted(glob.glob(str(data / 'nyu_target' / 'annotations' /
                                'train' / '*.png')))[0]
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16
    cv2.imwrite(path, (depth // 256).astype(np.uint8))
    load = LoadCheckedDepthAnnotation(depth_rescale_factor=1e-3)
    with pytest.raises(DataError, match=f'^{path}: depth map is uint8 with 1 '
                       'channel.*expected one uint16 channel'):
        load(depth_results(path))
    # Through the demo config's pipeline, as training reads it.
    dataset = build_dataset('nyu_target', data)
    index = [dataset.get_data_info(i)['depth_map_path']
             for i in range(len(dataset))].index(path)
    with pytest.raises(DataError, match=path):
        dataset[index]


def test_rgb_depth_png_is_refused(tmp_path):
    path = str(tmp_path / 'rgb.png')
    cv2.imwrite(path, np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(DataError, match='uint16 with 3 channel'):
        LoadCheckedDepthAnnotation()(depth_results(path))


def test_16bit_depth_loads_as_upstream(pristine):
    path = sorted(glob.glob(str(pristine / 'nyu_target' / 'annotations' /
                                'train' / '*.png')))[0]
    ours = LoadCheckedDepthAnnotation(depth_rescale_factor=1e-3)(
        depth_results(path))
    upstream = LoadDepthAnnotation(depth_rescale_factor=1e-3)(
        depth_results(path))
    assert ours.keys() == upstream.keys()
    np.testing.assert_array_equal(ours['gt_depth_map'],
                                  upstream['gt_depth_map'])
    assert 0 < ours['gt_depth_map'].max() < 65.536


# Every COCO and NYU config reads its data through the checks.


def all_configs():
    return sorted(
        p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                             recursive=True) if '_base_' not in p)


def test_every_coco_and_nyu_config_uses_the_checks():
    checked = 0
    for path in all_configs():
        cfg = Config.fromfile(path)
        for split in ('train', 'val', 'test'):
            dataset = cfg[f'{split}_dataloader'].dataset
            if 'coco' in osp.basename(path):
                assert issubclass(DET_DATASETS.get(dataset.type),
                                  CheckedCocoDataset), (path, split)
                checked += 1
            if 'nyu' in osp.basename(path):
                loaders = [t['type'] for t in dataset.pipeline
                           if 'Depth' in t['type'] and 'Load' in t['type']]
                assert loaders == ['LoadCheckedDepthAnnotation'], (path,
                                                                   split)
                checked += 1
    assert checked >= 3 * (15 + 1 + 5 + 1)


# Through tools/train.py: one line naming the file, also from a worker.


def train_cli(name, data, *options):
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
         osp.join(DEMO, CONFIGS[name]), '--work-dir', str(data / 'work'),
         '--cfg-options',
         *(f'{split}_dataloader.dataset.data_root={data / name}'
           for split in ('train', 'val', 'test')),
         'model.backbone.init_cfg=None',
         'train_cfg.max_iters=1', *options],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_train_tool_reports_broken_polygon_in_one_line(data):
    path, ann_id = edit_first_segmentation(data, [[1, 2, 3]])
    run = train_cli('coco_target', data)
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        f'error: {path}: annotation id {ann_id} (image '
        f"'{json.loads(open(path).read())['images'][0]['file_name']}') "
        f'has a polygon of 3 coordinates, an odd number (x, y pairs '
        f'expected)'), run.stderr[-2000:]


def test_train_tool_reports_8bit_depth_from_a_worker(data):
    for path in glob.glob(str(data / 'nyu_target' / 'annotations' / 'train' /
                              '*.png')):
        cv2.imwrite(path, np.zeros((64, 64), np.uint8))
    run = train_cli('nyu_target', data, 'train_dataloader.num_workers=1',
                    'train_dataloader.batch_size=2')
    assert run.returncode == 1
    last = run.stderr.splitlines()[-1]
    assert re.fullmatch(
        r'error: \S+/nyu_target/annotations/train/\S+\.png: depth map is '
        r'uint8 with 1 channel\(s\); expected one uint16 channel .*', last), \
        run.stderr[-2000:]
