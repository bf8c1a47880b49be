"""The synthetic demo data: determinism, the real upstream formats, class
design and the command line's reuse / regenerate behaviour."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from mmengine.registry import init_default_scope

import mmpeft  # noqa: F401 (registers the dataset classes)
from mmpeft.datasets import demo_data, formats, synthetic
from mmpeft.datasets import (VARIANTS, demo_metainfo, generate_demo_data,
                             render_depth_scene, render_object_scene)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLI = osp.join(REPO, 'tools', 'misc', 'make_demo_data.py')
SMALL = dict(seed=3, size=48, num_train=6, num_val=3)


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """All six datasets, tiny."""
    out = str(tmp_path_factory.mktemp('demo'))
    generate_demo_data(out, datasets=demo_data.ALL_DATASETS, **SMALL)
    return out


def rng(i=0):
    return np.random.default_rng(i)


# ---------------------------------------------------------------- rendering
@pytest.mark.parametrize('variant', ['source', 'target'])
def test_render_is_deterministic(variant):
    a = render_object_scene(rng(7), 48, variant)
    b = render_object_scene(rng(7), 48, variant)
    c = render_object_scene(rng(8), 48, variant)
    assert a.image.dtype == np.uint8 and a.image.shape == (48, 48, 3)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label_map(), b.label_map())
    assert not np.array_equal(a.image, c.image)
    d1 = render_depth_scene(rng(7), 48, variant)
    d2 = render_depth_scene(rng(7), 48, variant)
    np.testing.assert_array_equal(d1.image, d2.image)
    np.testing.assert_array_equal(d1.depth, d2.depth)


def test_classes_need_shape_and_appearance():
    src, tgt = VARIANTS['source'], VARIANTS['target']
    for variant in (src, tgt):
        assert len(variant.classes) == len(set(variant.classes)) >= 4
        # every shape comes in >= 2 fills and every fill in >= 2 shapes, so
        # neither the shape nor the fill alone names the class
        assert len(variant.shapes) >= 2 and len(variant.fills) >= 2
        assert variant.classes == tuple(
            f'{fill} {shape}' for shape in variant.shapes
            for fill in variant.fills)
    # the target task splits what the source task lumps together: its fills
    # are new classes, each of them was just 'patterned' in the source task
    assert not set(src.classes) & set(tgt.classes)
    assert not set(src.fills) & set(tgt.fills)
    assert 'patterned' in src.fills
    assert set(tgt.fills) <= set(synthetic.PATTERNS)


def test_patterned_fill_varies():
    """'patterned' objects show different patterns, 'dotted' ones do not
    change class with the pattern drawn."""
    xx, yy = synthetic._grid(48)
    mask = np.ones(xx.shape, bool)
    seen = set()
    for i in range(30):
        r = rng(i)
        r2 = rng(i)
        tex = synthetic.fill_texture('patterned', r, xx, yy, mask, 0.75)
        kind = synthetic.PATTERNS[int(r2.integers(3))]
        np.testing.assert_array_equal(
            tex, synthetic.fill_texture(kind, r2, xx, yy, mask, 0.75))
        seen.add(kind)
    assert seen == set(synthetic.PATTERNS)


@pytest.mark.parametrize('variant', ['source', 'target'])
def test_scenes_have_two_classes_and_visible_objects(variant):
    k = len(VARIANTS[variant].classes)
    for i in range(12):
        scene = render_object_scene(rng(i), 48, variant)
        labels = scene.label_map()
        present = set(np.unique(labels)) - {0}
        assert len(present) >= 2
        assert present <= set(range(1, k + 1))
        assert present == {o.label + 1 for o in scene.objects}
        for n, obj in enumerate(scene.objects, 1):
            assert (scene.layers == n).sum() >= 0.4 * np.pi * obj.radius**2
        assert scene.image.std() > 5  # textured, not flat


def test_first_labels_are_honoured():
    scene = render_object_scene(rng(1), 48, 'target', first_labels=(4, 5))
    assert {4, 5} <= {o.label for o in scene.objects}


def test_depth_scene_geometry():
    for i in range(8):
        scene = render_depth_scene(rng(i), 48, 'target')
        depth = scene.depth
        assert depth.dtype == np.float32 and depth.shape == (48, 48)
        assert synthetic.MIN_DEPTH <= depth.min()
        assert depth.max() <= synthetic.MAX_DEPTH
        # the floor comes nearer towards the bottom of the image
        background = scene.layers == 0
        col = np.flatnonzero(background[-1])[0]
        assert depth[-1, col] < depth[0, col]
        assert depth[-1, col] < 3.0 < depth.max()
        # objects are flat cut-outs at their own depth
        for n, obj in enumerate(scene.objects, 1):
            obj_px = scene.layers == n
            if obj_px.any():
                assert np.allclose(depth[obj_px], obj.depth)
        assert scene.scene_name in synthetic.NYU_SCENES


@pytest.mark.parametrize('size', [8, 31, 2048])
def test_bad_size(size):
    with pytest.raises(ValueError, match='size'):
        render_object_scene(rng(), size)


# ---------------------------------------------------------------- writers
def test_polygons_match_label_map():
    for i in range(10):
        scene = render_object_scene(rng(i), 48, 'target')
        anns = formats.coco_annotations(scene, 1, 1)
        assert len(anns) == len(scene.objects)
        for n, ann in enumerate(anns, 1):
            for poly in ann['segmentation']:
                pts = np.asarray(poly).reshape(-1, 2)
                assert len(poly) % 2 == 0 and len(pts) >= 3
                assert len({tuple(p) for p in pts}) >= 3
                assert formats.polygon_area(poly) > 0
            rle = mask_utils.merge(
                mask_utils.frPyObjects(ann['segmentation'], 48, 48))
            poly_mask = mask_utils.decode(rle).astype(bool)
            truth = scene.layers == n
            iou = (poly_mask & truth).sum() / (poly_mask | truth).sum()
            assert iou > 0.85, (i, n, iou)
            x, y, w, h = ann['bbox']
            ys, xs = np.nonzero(truth)
            assert abs(x - xs.min()) <= 1 and abs(y - ys.min()) <= 1
            assert abs(x + w - xs.max() - 1) <= 1
            assert abs(y + h - ys.max() - 1) <= 1
            assert abs(ann['area'] - truth.sum()) <= 0.15 * truth.sum()


def test_generation_is_deterministic(tmp_path):
    names = demo_data.ALL_DATASETS
    a = generate_demo_data(str(tmp_path / 'a'), datasets=names, **SMALL)
    b = generate_demo_data(str(tmp_path / 'b'), datasets=names, **SMALL)
    for name in a:
        ha = demo_data.hash_folder(a[name]['path'])
        hb = demo_data.hash_folder(b[name]['path'])
        assert ha == hb and len(ha) > 0
        assert a[name]['manifest'] == b[name]['manifest']
    # other seeds give other data; more images keep the first ones
    c = generate_demo_data(str(tmp_path / 'c'), datasets=['seg_target'],
                           **dict(SMALL, seed=4))
    d = generate_demo_data(str(tmp_path / 'd'), datasets=['seg_target'],
                           **dict(SMALL, num_train=8))
    hc = demo_data.hash_folder(c['seg_target']['path'])
    hd = demo_data.hash_folder(d['seg_target']['path'])
    ha = demo_data.hash_folder(a['seg_target']['path'])
    assert hc['images/training/training_00000.jpg'] != \
        ha['images/training/training_00000.jpg']
    assert {k: v for k, v in hd.items() if k in ha} == ha


def test_seg_layout(demo):
    root = osp.join(demo, 'seg_source')
    for split, n in (('training', 6), ('validation', 3)):
        imgs = sorted(os.listdir(osp.join(root, 'images', split)))
        anns = sorted(os.listdir(osp.join(root, 'annotations', split)))
        assert len(imgs) == n and all(f.endswith('.jpg') for f in imgs)
        assert [f[:-4] for f in imgs] == [f[:-4] for f in anns]
        label = cv2.imread(osp.join(root, 'annotations', split, anns[0]),
                           cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.shape == (48, 48)


@pytest.mark.parametrize('variant', ['source', 'target'])
def test_seg_loads_in_mmseg(demo, variant):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    k = len(VARIANTS[variant].classes)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ]
    seen = set()
    for split in ('training', 'validation'):
        ds = DATASETS.build(dict(
            type=f'DemoSeg{variant.title()}Dataset',
            data_root=osp.join(demo, f'seg_{variant}'),
            data_prefix=dict(img_path=f'images/{split}',
                             seg_map_path=f'annotations/{split}'),
            pipeline=pipeline))
        assert ds.metainfo['classes'] == VARIANTS[variant].classes
        assert len(ds.metainfo['palette']) == k
        for i in range(len(ds)):
            sample = ds[i]
            assert tuple(sample['inputs'].shape) == (3, 48, 48)
            seg = sample['data_samples'].gt_sem_seg.data.numpy()
            values = set(np.unique(seg).tolist())
            # background (0 in the PNG) -> 255 ignore, class i+1 -> i
            assert values <= set(range(k)) | {255}
            assert len(values - {255}) >= 2
            assert 255 in values
            if split == 'training':
                seen |= values - {255}
    assert seen == set(range(k))  # every class appears


def test_seg_background_as_class(demo):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    ds = DATASETS.build(dict(
        type='BaseSegDataset', data_root=osp.join(demo, 'seg_target'),
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=False,
        metainfo=demo_metainfo('target', background=True),
        pipeline=[dict(type='LoadAnnotations')]))
    seg = ds[0]['gt_seg_map']
    assert 0 in seg and seg.max() <= len(VARIANTS['target'].classes)


def test_coco_layout(demo):
    root = osp.join(demo, 'coco_target')
    for split, n in (('train', 6), ('val', 3)):
        with open(osp.join(root, 'annotations', f'instances_{split}.json')) \
                as f:
            coco = json.load(f)
        assert len(coco['images']) == n
        assert [c['name'] for c in coco['categories']] == list(
            VARIANTS['target'].classes)
        files = set(os.listdir(osp.join(root, 'images', split)))
        assert {im['file_name'] for im in coco['images']} == files
        ids = [a['id'] for a in coco['annotations']]
        assert len(ids) == len(set(ids))
        per_image = {}
        for ann in coco['annotations']:
            assert ann['iscrowd'] == 0 and ann['area'] > 0
            assert 1 <= ann['category_id'] <= len(coco['categories'])
            x, y, w, h = ann['bbox']
            assert w >= 1 and h >= 1 and x >= 0 and y >= 0
            assert x + w <= 48 and y + h <= 48
            for poly in ann['segmentation']:
                assert len(poly) >= 6 and len(poly) % 2 == 0
                assert formats.polygon_area(poly) > 0
            per_image.setdefault(ann['image_id'], set()).add(
                ann['category_id'])
        assert all(len(c) >= 2 for c in per_image.values())
        assert len(per_image) == n


@pytest.mark.parametrize('dataset_type',
                         ['CocoDataset', 'DemoCocoTargetDataset'])
def test_coco_loads_in_mmdet(demo, dataset_type):
    from mmdet.registry import DATASETS
    from mmdet.structures.mask import BitmapMasks, PolygonMasks
    init_default_scope('mmdet')
    classes = VARIANTS['target'].classes
    for poly2mask, mask_type in ((False, PolygonMasks), (True, BitmapMasks)):
        ds = DATASETS.build(dict(
            type=dataset_type, data_root=osp.join(demo, 'coco_target'),
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='images/train/'),
            metainfo=dict(classes=classes),
            filter_cfg=dict(filter_empty_gt=True, min_size=8),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
                     poly2mask=poly2mask)
            ]))
        assert len(ds) == 6 and ds.metainfo['classes'] == classes
        labels = set()
        for i in range(len(ds)):
            r = ds[i]
            n = len(r['gt_bboxes'])
            assert n >= 2 and isinstance(r['gt_masks'], mask_type)
            assert len(r['gt_masks']) == n
            assert not r['gt_ignore_flags'].any()
            boxes = r['gt_bboxes'].tensor.numpy()
            assert (boxes[:, 2] > boxes[:, 0]).all()
            assert (boxes[:, 3] > boxes[:, 1]).all()
            masks = r['gt_masks'].to_ndarray()
            assert (masks.reshape(n, -1).sum(1) > 10).all()
            labels |= set(r['gt_bboxes_labels'].tolist())
        assert labels == set(range(len(classes)))


def test_nyu_layout_and_uint16(demo):
    root = osp.join(demo, 'nyu_target')
    for split, n in (('train', 6), ('test', 3)):
        imgs = sorted(os.listdir(osp.join(root, 'images', split)))
        anns = sorted(os.listdir(osp.join(root, 'annotations', split)))
        assert len(imgs) == n
        assert [f[:-4] for f in imgs] == [f[:-4] for f in anns]
        for f in imgs:
            scene, idx = f[:-4].rsplit('_', 1)
            assert scene in synthetic.NYU_SCENES and idx.isdigit()
        depth = cv2.imread(osp.join(root, 'annotations', split, anns[0]),
                           cv2.IMREAD_UNCHANGED)
        assert depth.dtype == np.uint16 and depth.shape == (48, 48)
        assert 500 <= depth.min() and depth.max() <= 10000


def test_nyu_loads_in_mmseg(demo):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    ds = DATASETS.build(dict(
        type='NYUDataset', data_root=osp.join(demo, 'nyu_target'),
        data_prefix=dict(img_path='images/train',
                         depth_map_path='annotations/train'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadDepthAnnotation', depth_rescale_factor=1e-3),
            dict(type='PackSegInputs')
        ]))
    assert len(ds) == 6
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        assert info['category_id'] >= 0  # a known NYU scene name
        sample = ds[i]
        depth = sample['data_samples'].gt_depth_map.data.numpy()
        assert depth.shape == (1, 48, 48) and depth.dtype == np.float32
        assert 0.5 <= depth.min() and depth.max() <= 10.0
        assert depth.max() - depth.min() > 1.0


# ---------------------------------------------------------------- CLI
def run_cli(*args):
    return subprocess.run([sys.executable, CLI, *args], capture_output=True,
                          text=True, cwd=REPO)


def cli_args(out, **kw):
    opts = dict(SMALL, **kw)
    return ['--out', out, '--seed', str(opts['seed']), '--size',
            str(opts['size']), '--num-train', str(opts['num_train']),
            '--num-val', str(opts['num_val']), '--datasets', 'seg_target',
            'nyu_target']


def mtimes(root):
    return {
        osp.join(d, f): os.stat(osp.join(d, f)).st_mtime_ns
        for d, _, files in os.walk(root) for f in files
    }


def test_cli_workers_give_the_same_bytes(tmp_path):
    out = str(tmp_path / 'cli')
    r = run_cli(*cli_args(out), '--workers', '2')
    assert r.returncode == 0, r.stderr
    ref = generate_demo_data(str(tmp_path / 'lib'),
                             datasets=['seg_target', 'nyu_target'], **SMALL)
    for name, res in ref.items():
        assert demo_data.hash_folder(osp.join(out, name)) == \
            demo_data.hash_folder(res['path'])


def test_cli_reuse_and_regenerate(tmp_path):
    out = str(tmp_path / 'demo')
    r = run_cli(*cli_args(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('generated in') == 2
    assert sorted(os.listdir(out)) == ['nyu_target', 'seg_target']
    manifest = json.load(open(osp.join(out, 'seg_target', 'manifest.json')))
    assert manifest['args']['size'] == 48
    assert manifest['num_files'] == 2 * (6 + 3)
    before = mtimes(out)

    r = run_cli(*cli_args(out))  # same arguments: reused, untouched
    assert r.returncode == 0 and r.stdout.count('reused in') == 2
    assert mtimes(out) == before

    r = run_cli(*cli_args(out, num_val=2))  # other arguments: rebuilt
    assert r.returncode == 0 and r.stdout.count('generated in') == 2
    assert len(os.listdir(osp.join(out, 'seg_target', 'images',
                                   'validation'))) == 2

    r = run_cli(*cli_args(out, num_val=2), '--force')
    assert r.returncode == 0 and r.stdout.count('generated in') == 2

    # a damaged dataset is detected by its hash and rebuilt
    victim = osp.join(out, 'seg_target', 'annotations', 'training',
                      'training_00001.png')
    good = open(victim, 'rb').read()
    os.remove(victim)
    r = run_cli(*cli_args(out, num_val=2))
    assert r.stdout.count('generated in') == 1
    assert open(victim, 'rb').read() == good
    assert sorted(os.listdir(out)) == ['nyu_target', 'seg_target']


@pytest.mark.parametrize('args, name', [
    (['--size', '8'], '--size'),
    (['--num-train', '-1'], '--num-train'),
    (['--num-val', '0'], '--num-val'),
    (['--seed', '-2'], '--seed'),
    (['--datasets', 'seg_nowhere'], '--datasets'),
    (['--workers', '0'], '--workers'),
])
def test_cli_rejects_bad_arguments(tmp_path, args, name):
    r = run_cli('--out', str(tmp_path / 'x'), *args)
    assert r.returncode == 2
    assert f'argument {name}:' in r.stderr
    assert not osp.exists(tmp_path / 'x')


def test_failed_build_leaves_old_dataset(tmp_path, monkeypatch):
    out = str(tmp_path)
    generate_demo_data(out, datasets=['seg_source'], **SMALL)
    root = osp.join(out, 'seg_source')
    hashes = demo_data.hash_folder(root)

    def broken(put, *args, **kwargs):
        put('images/training/partial.jpg', b'x')
        raise RuntimeError('disk full')

    monkeypatch.setitem(formats.WRITERS, 'seg', broken)
    with pytest.raises(RuntimeError, match='disk full'):
        generate_demo_data(out, datasets=['seg_source'], force=True, **SMALL)
    assert os.listdir(out) == ['seg_source']  # no temporary folder left
    assert demo_data.hash_folder(root) == hashes
    assert demo_data.is_valid(
        root, demo_data.dataset_args('seg_source', **SMALL))


def test_generate_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_train'):
        generate_demo_data(str(tmp_path), **dict(SMALL, num_train=-3))
    with pytest.raises(ValueError, match='size'):
        generate_demo_data(str(tmp_path), **dict(SMALL, size=8))
    with pytest.raises(TypeError, match='num_val'):
        generate_demo_data(str(tmp_path), **dict(SMALL, num_val=2.5))


def test_cli_needs_no_torch(tmp_path):
    """The command line imports only numpy and OpenCV (fast start)."""
    code = ('import runpy, sys; sys.argv = sys.argv[1:]; '
            'runpy.run_path(sys.argv[0], run_name="__main__"); '
            'heavy = [m for m in ("torch", "mmseg", "mmdet", "mmengine") '
            'if m in sys.modules]; '
            'assert not heavy, heavy')
    r = subprocess.run(
        [sys.executable, '-c', code, CLI, *cli_args(str(tmp_path))],
        capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


def test_default_train_sizes_per_variant(tmp_path, monkeypatch):
    monkeypatch.setitem(demo_data.DEFAULT_NUM_TRAIN, 'source', 5)
    monkeypatch.setitem(demo_data.DEFAULT_NUM_TRAIN, 'target', 3)
    res = generate_demo_data(str(tmp_path), seed=0, size=32, num_val=2,
                             datasets=['seg_source', 'nyu_target'])
    assert res['seg_source']['manifest']['args']['num_train'] == 5
    assert res['nyu_target']['manifest']['args']['num_train'] == 3
    assert len(os.listdir(tmp_path / 'seg_source' / 'images' /
                          'training')) == 5
    again = generate_demo_data(str(tmp_path), seed=0, size=32, num_val=2,
                               datasets=['seg_source', 'nyu_target'])
    assert {r['status'] for r in again.values()} == {'reused'}


def test_other_generator_code_regenerates(tmp_path, monkeypatch):
    out = str(tmp_path)
    first = generate_demo_data(out, datasets=['seg_target'], **SMALL)
    assert first['seg_target']['manifest']['args']['code'] == \
        demo_data.CODE_HASH
    monkeypatch.setattr(demo_data, 'CODE_HASH', 'edited')
    again = generate_demo_data(out, datasets=['seg_target'], **SMALL)
    assert again['seg_target']['status'] == 'generated'
