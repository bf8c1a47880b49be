"""Data checks that name the offending file, and the synthetic demo data:
seeded scene rendering, writers in the ADE20K, COCO and NYU-v2 formats, and
the registered dataset classes that read them."""
from .checks import (CheckedCocoDataset, DataError,
                     LoadCheckedDepthAnnotation)
from .demo_data import (ALL_DATASETS, DEFAULT_DATASETS, generate_demo_data,
                        is_valid)
from .formats import (mask_to_polygons, write_coco_dataset, write_nyu_dataset,
                      write_seg_dataset)
from .registered import (DemoCocoSourceDataset, DemoCocoTargetDataset,
                         DemoSegSourceDataset, DemoSegTargetDataset,
                         demo_metainfo)
from .synthetic import (VARIANTS, Variant, render_depth_scene,
                        render_object_scene)

__all__ = [
    'CheckedCocoDataset', 'DataError', 'LoadCheckedDepthAnnotation',
    'ALL_DATASETS', 'DEFAULT_DATASETS', 'generate_demo_data', 'is_valid',
    'mask_to_polygons', 'write_coco_dataset', 'write_nyu_dataset',
    'write_seg_dataset', 'DemoCocoSourceDataset', 'DemoCocoTargetDataset',
    'DemoSegSourceDataset', 'DemoSegTargetDataset', 'demo_metainfo',
    'VARIANTS', 'Variant', 'render_depth_scene', 'render_object_scene'
]
