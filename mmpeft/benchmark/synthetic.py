"""Random inputs and ground truth for the model of any config, the same
for every method (fixed seed): what the benchmark measures on and what the
tests feed models."""
from typing import Optional, Tuple

import torch
from mmengine.config import Config


def find_key(cfg, key):
    """The first non-None value of ``key`` in a nested config (depth
    first, in the config's order)."""
    if isinstance(cfg, dict):
        if cfg.get(key) is not None:
            return cfg[key]
        values = cfg.values()
    elif isinstance(cfg, (list, tuple)):
        values = cfg
    else:
        return None
    for value in values:
        found = find_key(value, key)
        if found is not None:
            return found
    return None


def default_shape(cfg: Config) -> Tuple[int, int]:
    """The training crop of the config (preprocessor size, ``crop_size``,
    the backbone's ``img_size``), else 224x224."""
    size = find_key(dict(cfg.model), 'size') or cfg.get('crop_size')
    if size is None:
        size = find_key(dict(cfg.model.backbone), 'img_size') or 224
    if isinstance(size, int):
        size = (size, size)
    return tuple(int(s) for s in size)


def task_of(cfg: Config) -> str:
    """'seg', 'depth', 'cls' or 'det', from the scope and the model type."""
    scope = cfg.get('default_scope', 'mmseg')
    if scope == 'mmseg':
        return 'depth' if cfg.model.get('type') == 'DepthEstimator' else 'seg'
    tasks = {'mmpretrain': 'cls', 'mmdet': 'det'}
    if scope not in tasks:
        raise NotImplementedError(f'default_scope {scope!r}: no synthetic '
                                  f'data for this task')
    return tasks[scope]


def _seg_sample(meta, num_classes, gen, depth: bool):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    height, width = meta['img_shape']
    sample = SegDataSample(metainfo=meta)
    if depth:  # metres, inside every depth head's valid range
        sample.gt_depth_map = PixelData(
            data=torch.rand(1, height, width, generator=gen) * 9 + 0.5)
    else:
        sample.gt_sem_seg = PixelData(data=torch.randint(
            0, num_classes, (1, height, width), generator=gen))
    return sample


def _cls_sample(meta, num_classes, gen):
    from mmpretrain.structures import DataSample
    return DataSample(metainfo=meta).set_gt_label(
        int(torch.randint(0, num_classes, (1, ), generator=gen)))


def _det_sample(meta, num_classes, gen, num: int = 3):
    """Boxes of at least a tenth of the image and their box masks."""
    import numpy as np
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    height, width = meta['img_shape']
    xy = torch.rand(num, 2, generator=gen) * 0.5
    wh = torch.rand(num, 2, generator=gen) * 0.4 + 0.1
    scale = torch.tensor([width, height], dtype=torch.float32)
    boxes = torch.cat([xy * scale, (xy + wh) * scale], 1)
    masks = np.zeros((num, height, width), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
        masks[i, y1:y2, x1:x2] = 1
    sample = DetDataSample(metainfo=meta)
    sample.gt_instances = InstanceData(
        bboxes=boxes,
        labels=torch.randint(0, num_classes, (num, ), generator=gen),
        masks=BitmapMasks(masks, height, width))
    sample.ignored_instances = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
    return sample


def synthetic_batch(cfg: Config, batch: int, shape, seed: int = 0,
                    num_classes: Optional[int] = None) -> dict:
    """``batch`` random uint8 images of ``shape`` (H, W) with random ground
    truth for the config's task, as a dataloader would give them to
    ``model.data_preprocessor``."""
    task = task_of(cfg)
    gen = torch.Generator().manual_seed(seed)
    height, width = shape
    num_classes = num_classes or find_key(dict(cfg.model), 'num_classes') or 10
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, height, width),
                                    generator=gen, dtype=torch.uint8))
        meta = dict(img_shape=(height, width), ori_shape=(height, width),
                    pad_shape=(height, width), scale_factor=(1.0, 1.0),
                    flip=False, flip_direction=None)
        if task in ('seg', 'depth'):
            samples.append(_seg_sample(meta, num_classes, gen,
                                       task == 'depth'))
        elif task == 'cls':
            samples.append(_cls_sample(meta, num_classes, gen))
        else:
            samples.append(_det_sample(meta, num_classes, gen))
    return dict(inputs=inputs, data_samples=samples)


def checksum(batch: dict) -> int:
    return int(sum(int(x.long().sum()) for x in batch['inputs']))
