"""Attention rollout of a backbone without and with adapters, for one image.

    python tools/analysis_tools/visualize_attention.py IMAGE CONFIG \\
        [--base-checkpoint BASE] [--checkpoint ADAPTED] --out grid.png \\
        [--head-fusion mean|max|min] [--discard-ratio R] [--size H [W]] \\
        [--first-stage S] [--readout auto|cls|mean] [--normalize minmax|max]
        [--cfg-options ...]

Writes a PNG grid: image | base | adapted (the rollout maps over the image).

- The adapted backbone is ``model.backbone`` of CONFIG; ``--checkpoint`` is
  a training checkpoint of that model (its ``backbone.*`` weights are used)
  or a backbone state dict.
- The base backbone is the same backbone without adapters (the upstream
  type, the wrapper's options removed). Its weights are ``--base-checkpoint``
  (e.g. a converted pretrained file, or a full fine-tuning checkpoint) when
  given, otherwise the adapted backbone's own weights minus the adapters,
  which for PEFT runs (frozen backbone) are the pretrained weights.
- Nothing is downloaded: the config's ``init_cfg`` / ``pretrained`` are
  ignored, so without checkpoints the weights are random.

See docs/tools/visualize_attention.md and mmpeft/analysis/attention_rollout.py
for the rollout definitions (ViT: standard; Swin: this project's).
"""
import argparse
import copy

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import MODELS, init_default_scope

import mmpeft  # noqa: F401 (registers the wrappers)
from mmpeft.adapters.base import is_adapter_key
from mmpeft.analysis.attention_rollout import (HEAD_FUSIONS, READOUTS,
                                               attention_rollout, upsample_map)
from mmpeft.models.backbones import WRAPPER_OPTIONS, upstream_type_of
from mmpeft.models.converters import load_state_dict_file

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
GAP = 4  # white pixels between panels


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image', help='input image')
    parser.add_argument('config', help='config of the adapted model')
    parser.add_argument('--checkpoint', help='checkpoint of the adapted model')
    parser.add_argument(
        '--base-checkpoint', help='weights of the backbone without adapters')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--head-fusion', choices=HEAD_FUSIONS, default='mean')
    parser.add_argument(
        '--discard-ratio', type=float, default=0.0,
        help='fraction of the lowest attention weights of each matrix set to '
        'zero before rollout (0.9 with --head-fusion max gives sharper maps)')
    parser.add_argument(
        '--size', type=int, nargs='+',
        help='network input H [W]; default: the config crop_size, else 224')
    parser.add_argument(
        '--first-stage', type=int, default=0,
        help='Swin: roll out from the last stage down to this one')
    parser.add_argument('--readout', choices=READOUTS, default='auto',
                        help="ViT: class token ('cls') or mean of patches")
    parser.add_argument(
        '--normalize', choices=('minmax', 'max'), default='minmax',
        help='scale each map to [0, 1] by its range, or by its peak')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, as in tools/train.py')
    return parser.parse_args(argv)


def backbone_configs(cfg: Config):
    """(adapted, base) backbone configs, without pretrained loading."""
    adapted = copy.deepcopy(cfg.model.backbone)
    adapted.pop('init_cfg', None)
    adapted.pop('pretrained', None)
    base = copy.deepcopy(adapted)
    # Keeps a scope prefix: 'mmpretrain.PEFTVisionTransformer' in an mmdet
    # config becomes 'mmpretrain.VisionTransformer'.
    base.type = upstream_type_of(adapted.type, cfg.get('default_scope'))
    if base.type != adapted.type:
        for key in WRAPPER_OPTIONS:
            base.pop(key, None)
    else:
        print_log(f'{adapted.type} is not a PEFT wrapper: base and adapted '
                  f'backbones are the same', logger='current')
    return adapted, base


def backbone_weights(path: str) -> dict:
    """Backbone keys of a model checkpoint, or a backbone state dict."""
    state_dict = load_state_dict_file(path)
    if any(k.startswith('backbone.') for k in state_dict):
        return {k[len('backbone.'):]: v for k, v in state_dict.items()
                if k.startswith('backbone.')}
    return state_dict


def load_into(backbone, state_dict: dict, what: str) -> None:
    result = backbone.load_state_dict(state_dict, strict=False)
    own = backbone.state_dict()
    loaded = [k for k in state_dict if k in own]
    if not loaded:
        raise ValueError(f'{what}: no key matches the backbone')
    print_log(f'{what}: loaded {len(loaded)} tensors; missing '
              f'{len(result.missing_keys)}, unexpected '
              f'{len(result.unexpected_keys)}', logger='current')


def build_backbones(cfg: Config, checkpoint=None, base_checkpoint=None):
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    adapted_cfg, base_cfg = backbone_configs(cfg)
    adapted, base = MODELS.build(adapted_cfg), MODELS.build(base_cfg)
    if base_checkpoint:
        weights = backbone_weights(base_checkpoint)
        load_into(base, weights, 'base checkpoint')
        load_into(adapted, weights, 'base checkpoint -> adapted')
    if checkpoint:
        load_into(adapted, backbone_weights(checkpoint), 'adapted checkpoint')
    else:
        print_log('no --checkpoint: the adapters keep their initial values',
                  logger='current')
    if not base_checkpoint:
        load_into(base, {
            k: v
            for k, v in adapted.state_dict().items() if not is_adapter_key(k)
        }, 'base <- adapted without adapters')
    return base, adapted


def input_size(cfg: Config, size):
    if size:
        return (size[0], size[-1])
    crop = cfg.get('crop_size')
    if crop:
        return (crop, crop) if isinstance(crop, int) else tuple(crop[:2])
    return (224, 224)


def preprocess(image_path: str, cfg: Config, size):
    """BGR image resized to ``size``, and the normalised input tensor."""
    image = mmcv.imread(image_path)
    if image is None:
        raise FileNotFoundError(image_path)
    image = mmcv.imresize(image, (size[1], size[0]))
    prep = cfg.model.get('data_preprocessor') or {}
    mean = np.array(prep.get('mean') or IMAGENET_MEAN, dtype=np.float32)
    std = np.array(prep.get('std') or IMAGENET_STD, dtype=np.float32)
    rgb = prep.get('bgr_to_rgb', prep.get('to_rgb', True))
    pixels = image[..., ::-1] if rgb else image
    pixels = (pixels.astype(np.float32) - mean) / std
    tensor = torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None]
    return image, tensor


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    colored = cv2.applyColorMap(
        np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 0.5, colored, 0.5, 0)


def render_grid(image: np.ndarray, maps, labels=('image', 'base',
                                                  'adapted')) -> np.ndarray:
    """image | overlay(map) ... side by side, GAP white pixels apart."""
    panels = [image] + [overlay(image, m) for m in maps]
    H, W = image.shape[:2]
    grid = np.full((H, len(panels) * W + (len(panels) - 1) * GAP, 3),
                   255, dtype=np.uint8)
    for i, (panel, label) in enumerate(zip(panels, labels)):
        panel = panel.copy()
        scale = max(H / 400, 0.3)
        cv2.putText(panel, label, (4, int(16 * scale) + 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255),
                    1, cv2.LINE_AA)
        grid[:, i * (W + GAP):i * (W + GAP) + W] = panel
    return grid


def rollout_maps(backbones, inputs, size, normalize='minmax', **options):
    maps = []
    for backbone in backbones:
        backbone.eval()
        rollout = attention_rollout(backbone, inputs, **options)
        maps.append(upsample_map(rollout, size, normalize)[0].cpu().numpy())
    return maps


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    base, adapted = build_backbones(cfg, args.checkpoint,
                                    args.base_checkpoint)
    size = input_size(cfg, args.size)
    image, inputs = preprocess(args.image, cfg, size)
    device = torch.device(args.device)
    base, adapted = base.to(device), adapted.to(device)
    maps = rollout_maps((base, adapted), inputs.to(device), size,
                        normalize=args.normalize, head_fusion=args.head_fusion,
                        discard_ratio=args.discard_ratio,
                        readout=args.readout, first_stage=args.first_stage)
    grid = render_grid(image, maps)
    mmcv.imwrite(grid, args.out)
    print(f'wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}); mean |base '
          f'- adapted| = {np.abs(maps[0] - maps[1]).mean():.4f}')
    return maps


if __name__ == '__main__':
    main()
