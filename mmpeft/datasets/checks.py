"""Data that upstream would read wrongly or drop silently, refused with an
error naming the file.

- :class:`CheckedCocoDataset` (mmdet registry): mmdet's ``CocoDataset``
  with every ``segmentation`` checked when the annotation file is parsed,
  i.e. before training starts. mmdet's ``LoadAnnotations`` quietly turns an
  instance whose polygons are malformed (an odd number of coordinates) into
  an ignored one, and other defects (text or NaN coordinates, an RLE without
  ``counts``) surface late, deep inside mask decoding. Here each is a
  :class:`DataError` naming the json file, the annotation id and the image.
  Polygons with fewer than 3 points, which real COCO contains and mmdet (as
  detectron2) drops, are dropped too, but counted in one warning naming the
  file (``degenerate_polygons='error'`` refuses them instead).
- :class:`LoadCheckedDepthAnnotation` (mmseg registry): mmseg's
  ``LoadDepthAnnotation``, which scales whatever integer PNG it reads by
  ``depth_rescale_factor``. An 8-bit PNG (depth saved through an image
  viewer, or an RGB visualisation) would give depths of at most 0.255 m
  without a word; here a depth map that is not one 16-bit channel is a
  :class:`DataError` naming the file.

A missing image, label map or annotation file needs nothing of ours: the
upstream loaders raise ``FileNotFoundError`` with the path.
"""
import logging
import math
from numbers import Real
from typing import List, Optional

import numpy as np
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS as DET_DATASETS
from mmengine import fileio
from mmengine.logging import print_log
from mmseg.datasets.transforms import LoadDepthAnnotation
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS
from mmseg.utils import datafrombytes

DEGENERATE_POLICIES = ('warn', 'error')


class DataError(ValueError):
    """A data file that would be misread; the message names the file."""


def polygon_defect(polygon) -> Optional[str]:
    """Why one COCO polygon ``[x1, y1, x2, y2, ...]`` is malformed, or
    ``None`` (fewer than 3 points is degenerate, not malformed)."""
    if not isinstance(polygon, (list, tuple)):
        return (f'a polygon that is {type(polygon).__name__}, not a list of '
                f'numbers')
    for value in polygon:
        if isinstance(value, bool) or not isinstance(value, Real):
            return f'a polygon holding {value!r}, not a number'
        if not math.isfinite(value):
            return f'a polygon holding {value!r}'
    if len(polygon) % 2:
        return (f'a polygon of {len(polygon)} coordinates, an odd number '
                f'(x, y pairs expected)')
    return None


def rle_defect(rle: dict, height: int, width: int) -> Optional[str]:
    if not isinstance(rle.get('counts'), (list, str, bytes)):
        return "an RLE mask without 'counts'"
    size = rle.get('size')
    if size is None or list(size) != [height, width]:
        return (f'an RLE mask of size {size} on an image of '
                f'[height, width] = {[height, width]}')
    return None


@DET_DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` that refuses malformed segmentations at start-up.

    Args:
        degenerate_polygons (str): polygons with fewer than 3 points:
            ``'warn'`` drops them as mmdet does and reports their number
            once, ``'error'`` raises.
        **kwargs: ``CocoDataset``'s arguments.
    """

    def __init__(self, *args, degenerate_polygons: str = 'warn', **kwargs):
        if degenerate_polygons not in DEGENERATE_POLICIES:
            raise ValueError(f'degenerate_polygons={degenerate_polygons!r}; '
                             f'allowed: {DEGENERATE_POLICIES}')
        self.degenerate_polygons = degenerate_polygons
        self._degenerate = 0
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        self._degenerate = 0
        data_list = super().load_data_list()
        if self._degenerate:
            print_log(f'{self.ann_file}: {self._degenerate} polygon(s) with '
                      f'fewer than 3 points dropped (as mmdet does)',
                      logger='current', level=logging.WARNING)
        return data_list

    def parse_data_info(self, raw_data_info: dict):
        image = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:
            self._check_segmentation(ann, image)
        return super().parse_data_info(raw_data_info)

    def _check_segmentation(self, ann: dict, image: dict) -> None:
        if 'segmentation' not in ann:
            return
        segmentation = ann['segmentation']
        if isinstance(segmentation, dict):
            defect = rle_defect(segmentation, image['height'], image['width'])
        elif isinstance(segmentation, list):
            defect = (None if segmentation else 'an empty segmentation')
            for polygon in segmentation:
                defect = defect or polygon_defect(polygon)
            if defect is None:
                defect = self._degenerate_defect(segmentation)
        else:
            defect = (f'a segmentation of type {type(segmentation).__name__}'
                      f' (polygons or RLE expected)')
        if defect:
            raise DataError(
                f'{self.ann_file}: annotation id {ann.get("id")} (image '
                f'{image.get("file_name")!r}) has {defect}')

    def _degenerate_defect(self, polygons: list) -> Optional[str]:
        degenerate = sum(len(polygon) < 6 for polygon in polygons)
        if degenerate and self.degenerate_polygons == 'error':
            return ('a polygon with fewer than 3 points '
                    "(degenerate_polygons='error')")
        self._degenerate += degenerate
        return None


@SEG_TRANSFORMS.register_module()
class LoadCheckedDepthAnnotation(LoadDepthAnnotation):
    """``LoadDepthAnnotation`` that accepts only one-channel depth maps of
    ``expected_dtype`` (NYU-v2: 16-bit PNG in millimetres).

    Args:
        expected_dtype (str): numpy dtype of the decoded file.
        **kwargs: ``LoadDepthAnnotation``'s arguments.
    """

    def __init__(self, expected_dtype: str = 'uint16', **kwargs) -> None:
        super().__init__(**kwargs)
        self.expected_dtype = np.dtype(expected_dtype)

    def transform(self, results: dict) -> dict:
        path = results['depth_map_path']
        depth = datafrombytes(fileio.get(path, self.backend_args),
                              backend=self.decode_backend)
        if depth.dtype != self.expected_dtype or depth.ndim != 2:
            channels = 1 if depth.ndim == 2 else depth.shape[-1]
            raise DataError(
                f'{path}: depth map is {depth.dtype} with {channels} '
                f'channel(s); expected one {self.expected_dtype} channel '
                f'(a 16-bit PNG, scaled by depth_rescale_factor='
                f'{self.depth_rescale_factor})')
        # The rest as upstream.
        if self.to_float32:
            depth = depth.astype(np.float32)
        depth *= self.depth_rescale_factor
        results['gt_depth_map'] = depth
        results['seg_fields'].append('gt_depth_map')
        results['depth_rescale_factor'] = self.depth_rescale_factor
        return results

    def __repr__(self) -> str:
        return (f'{super().__repr__()[:-1]}, '
                f"expected_dtype='{self.expected_dtype}')")
