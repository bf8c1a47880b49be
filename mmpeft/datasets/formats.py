"""Writers of synthetic scenes in the real on-disk formats.

* :func:`write_seg_dataset`: ADE20K layout for mmseg,
  ``images/{training,validation}/*.jpg`` with 8-bit label PNGs of the same
  stem in ``annotations/{training,validation}/``; 0 is background (ignored
  with ``reduce_zero_label=True``), class i is stored as i + 1.
* :func:`write_coco_dataset`: COCO instance segmentation for mmdet,
  ``images/{train,val}/*.jpg`` and ``annotations/instances_{train,val}.json``
  with polygon ``segmentation``, ``bbox`` (x, y, w, h), ``area``,
  ``iscrowd`` and ``category_id`` (1-based, in class order).
* :func:`write_nyu_dataset`: the layout of mmseg's ``NYUDataset``,
  ``images/{train,test}/<scene>_<id>.jpg`` and
  ``annotations/{train,test}/<scene>_<id>.png``, depth as 16-bit PNG in
  millimetres.

Each writer takes a ``put(relpath, data: bytes)`` callable, so the caller
decides where bytes go (and hashes them), and optionally a process pool
(``concurrent.futures.ProcessPoolExecutor``) to render images in parallel;
the bytes do not depend on it. Image ``i`` of a split is rendered
from its own generator seeded by (seed, dataset name, split, i): the same
arguments give the same bytes, and a larger split keeps the first images.
"""
import json
import zlib
from typing import Callable, List, Sequence

import cv2
import numpy as np

from .synthetic import (MAX_DEPTH, MIN_DEPTH, SUPERSAMPLE, Scene,
                        get_variant, render_depth_scene, render_object_scene,
                        to_bgr)

Put = Callable[[str, bytes], None]
JPEG_QUALITY = 95

SEG_SPLITS = ('training', 'validation')
COCO_SPLITS = ('train', 'val')
NYU_SPLITS = ('train', 'test')


def image_rng(seed: int, name: str, split: str, index: int):
    """The generator of one image: independent of the split's length."""
    return np.random.default_rng([
        int(seed), zlib.crc32(name.encode()), zlib.crc32(split.encode()),
        int(index)
    ])


def encode_jpg(image_rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.jpg', to_bgr(image_rgb),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    return buf.tobytes()


def encode_png(array: np.ndarray) -> bytes:
    """Single-channel PNG; uint8 or uint16 bit depth kept."""
    assert array.ndim == 2 and array.dtype in (np.uint8, np.uint16)
    ok, buf = cv2.imencode('.png', array, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    assert ok
    return buf.tobytes()


def _first_labels(index: int, num_classes: int) -> List[int]:
    """Two classes per image in turn, so every class appears once a split
    has ceil(num_classes / 2) images."""
    return [(2 * index) % num_classes, (2 * index + 1) % num_classes]


def polygon_area(flat: Sequence[float]) -> float:
    pts = np.asarray(flat, np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(
        float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def mask_to_polygons(mask: np.ndarray, min_area: float = 1.0,
                     supersample: int = SUPERSAMPLE) -> List[List[float]]:
    """COCO polygons (flat x, y lists in output pixels) of a supersampled
    boolean mask; one per connected part of at least ``min_area`` pixels.

    Contours run through the centres of the supersampled boundary pixels, so
    they lie within 1 / (2 * supersample) pixel of the true outline.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    polygons = []
    for contour in contours:
        contour = cv2.approxPolyDP(contour, 0.75, True)[:, 0, :]
        pts = (contour.astype(np.float64) + 0.5) / supersample
        flat = [round(float(v), 2) for v in pts.reshape(-1)]
        if len(flat) < 6 or len({tuple(p) for p in zip(flat[::2], flat[1::2])
                                 }) < 3:
            continue
        if polygon_area(flat) < min_area:
            continue
        polygons.append(flat)
    return polygons


def _map(fn, jobs: list, pool=None):
    """map() in order, in a process pool when one is given."""
    if pool is None or len(jobs) < 2:
        return map(fn, jobs)
    chunk = max(1, min(64, len(jobs) // (4 * pool._max_workers)))
    return pool.map(fn, jobs, chunksize=chunk)


def _jobs(seed, name, variant, size, split, num):
    return [(seed, name, variant, size, split, i) for i in range(num)]


def _seg_item(job):
    seed, name, variant, size, split, i = job
    scene = render_object_scene(
        image_rng(seed, name, split, i), size, variant,
        first_labels=_first_labels(i, len(variant.classes)))
    return encode_jpg(scene.image), encode_png(scene.label_map())


def write_seg_dataset(put: Put, name: str, variant, seed: int, size: int,
                      num_train: int, num_val: int, pool=None) -> dict:
    """ADE20K-style semantic segmentation of one variant."""
    variant = get_variant(variant)
    counts = {}
    for split, num in zip(SEG_SPLITS, (num_train, num_val)):
        jobs = _jobs(seed, name, variant, size, split, num)
        for i, (jpg, png) in enumerate(_map(_seg_item, jobs, pool)):
            stem = f'{split}_{i:05d}'
            put(f'images/{split}/{stem}.jpg', jpg)
            put(f'annotations/{split}/{stem}.png', png)
        counts[split] = num
    return dict(images=counts)


def coco_annotations(scene: Scene, image_id: int, first_ann_id: int):
    """COCO annotation dicts of a scene's objects (visible parts)."""
    anns = []
    for obj in scene.objects:
        polygons = mask_to_polygons(obj.visible)
        if not polygons:
            continue
        xs = np.concatenate([np.asarray(p[0::2]) for p in polygons])
        ys = np.concatenate([np.asarray(p[1::2]) for p in polygons])
        x0, y0 = float(xs.min()), float(ys.min())
        bbox = [round(x0, 2), round(y0, 2), round(float(xs.max()) - x0, 2),
                round(float(ys.max()) - y0, 2)]
        anns.append(dict(
            id=first_ann_id + len(anns), image_id=image_id,
            category_id=obj.label + 1, segmentation=polygons,
            area=round(sum(polygon_area(p) for p in polygons), 2),
            bbox=bbox, iscrowd=0))
    return anns


def _coco_item(job):
    seed, name, variant, size, split, i = job
    scene = render_object_scene(
        image_rng(seed, name, split, i), size, variant,
        first_labels=_first_labels(i, len(variant.classes)))
    return encode_jpg(scene.image), coco_annotations(scene, i + 1, 0)


def write_coco_dataset(put: Put, name: str, variant, seed: int, size: int,
                       num_train: int, num_val: int, pool=None) -> dict:
    """COCO-style instance segmentation of one variant."""
    variant = get_variant(variant)
    categories = [
        dict(id=c + 1, name=cls, supercategory=variant.class_parts(c)[0])
        for c, cls in enumerate(variant.classes)
    ]
    counts = {}
    for split, num in zip(COCO_SPLITS, (num_train, num_val)):
        images, annotations = [], []
        jobs = _jobs(seed, name, variant, size, split, num)
        for i, (jpg, anns) in enumerate(_map(_coco_item, jobs, pool)):
            file_name = f'{i:05d}.jpg'
            put(f'images/{split}/{file_name}', jpg)
            images.append(dict(id=i + 1, file_name=file_name, width=size,
                               height=size))
            for ann in anns:  # ids 1, 2, ... over the split
                ann['id'] = len(annotations) + 1
                annotations.append(ann)
        coco = dict(
            info=dict(description=f'mmpeft synthetic demo data ({name})',
                      version='1.0', year=2024),
            licenses=[], images=images, annotations=annotations,
            categories=categories)
        put(f'annotations/instances_{split}.json',
            json.dumps(coco, sort_keys=True, separators=(',', ':')).encode())
        counts[split] = dict(images=num, instances=len(annotations))
    return dict(images=counts)


def depth_to_png(depth_m: np.ndarray) -> np.ndarray:
    """Metres (float) -> uint16 millimetres, clipped to the valid range."""
    mm = np.round(np.clip(depth_m, MIN_DEPTH, MAX_DEPTH) * 1000)
    return mm.astype(np.uint16)


def _nyu_item(job):
    seed, name, variant, size, split, i = job
    scene = render_depth_scene(image_rng(seed, name, split, i), size, variant)
    return (f'{scene.scene_name}_{i:05d}', encode_jpg(scene.image),
            encode_png(depth_to_png(scene.depth)))


def write_nyu_dataset(put: Put, name: str, variant, seed: int, size: int,
                      num_train: int, num_val: int, pool=None) -> dict:
    """NYU-v2-style depth estimation (mmseg ``NYUDataset`` layout)."""
    variant = get_variant(variant)
    counts = {}
    for split, num in zip(NYU_SPLITS, (num_train, num_val)):
        jobs = _jobs(seed, name, variant, size, split, num)
        for stem, jpg, png in _map(_nyu_item, jobs, pool):
            put(f'images/{split}/{stem}.jpg', jpg)
            put(f'annotations/{split}/{stem}.png', png)
        counts[split] = num
    return dict(images=counts)


WRITERS = dict(seg=write_seg_dataset, coco=write_coco_dataset,
               nyu=write_nyu_dataset)
