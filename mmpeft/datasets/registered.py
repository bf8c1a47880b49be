"""Dataset classes of the synthetic demo data, registered in the mmseg and
mmdet registries so configs can name them with ``type=``.

=====================  ========  ==============================================
type                   registry  reads
=====================  ========  ==============================================
DemoSegSourceDataset   mmseg     ``seg_source`` (ADE20K layout, 6 classes)
DemoSegTargetDataset   mmseg     ``seg_target`` (ADE20K layout, 6 classes)
DemoCocoSourceDataset  mmdet     ``coco_source`` (COCO json, 6 classes)
DemoCocoTargetDataset  mmdet     ``coco_target`` (COCO json, 6 classes)
=====================  ========  ==============================================

The COCO ones are :class:`CheckedCocoDataset` (malformed polygons are an
error naming the file). Depth (``nyu_target``) needs no class of its own:
use mmseg's ``NYUDataset`` with ``LoadCheckedDepthAnnotation``.
"""
from mmdet.registry import DATASETS as DET_DATASETS
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS as SEG_DATASETS

from .checks import CheckedCocoDataset
from .synthetic import PALETTE, VARIANTS


def demo_metainfo(variant: str, background: bool = False) -> dict:
    """``dict(classes=..., palette=...)`` of a variant; with
    ``background=True`` a leading 'background' class (label 0 of the PNGs,
    for ``BaseSegDataset`` with ``reduce_zero_label=False``)."""
    classes = VARIANTS[variant].classes
    palette = [list(c) for c in PALETTE[:len(classes)]]
    if background:
        classes = ('background', ) + classes
        palette = [[0, 0, 0]] + palette
    return dict(classes=classes, palette=palette)


class _DemoSegDataset(BaseSegDataset):
    """ADE20K conventions: '.jpg' images, '.png' labels with 0 =
    background, which ``reduce_zero_label=True`` turns into the ignore
    index; class i is stored as i + 1."""

    def __init__(self, img_suffix='.jpg', seg_map_suffix='.png',
                 reduce_zero_label=True, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix,
                         seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)


@SEG_DATASETS.register_module()
class DemoSegSourceDataset(_DemoSegDataset):
    """Synthetic source-task semantic segmentation (``seg_source``)."""
    METAINFO = demo_metainfo('source')


@SEG_DATASETS.register_module()
class DemoSegTargetDataset(_DemoSegDataset):
    """Synthetic target-task semantic segmentation (``seg_target``)."""
    METAINFO = demo_metainfo('target')


def _det_metainfo(variant: str) -> dict:
    info = demo_metainfo(variant)
    return dict(classes=info['classes'],
                palette=[tuple(c) for c in info['palette']])


@DET_DATASETS.register_module()
class DemoCocoSourceDataset(CheckedCocoDataset):
    """Synthetic source-task instance segmentation (``coco_source``)."""
    METAINFO = _det_metainfo('source')


@DET_DATASETS.register_module()
class DemoCocoTargetDataset(CheckedCocoDataset):
    """Synthetic target-task instance segmentation (``coco_target``)."""
    METAINFO = _det_metainfo('target')
