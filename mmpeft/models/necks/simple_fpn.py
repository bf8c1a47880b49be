"""ViTDet's simple feature pyramid for plain (single-scale) ViT backbones.

mmdet 3.3.0 ships it only as a project (``projects/ViTDet``), outside the
installed package, so it is registered here in the mmdet scope.
"""
from typing import Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Simple feature pyramid of ViTDet: one stride-16 map to strides 4-64.

    Li et al., *Exploring Plain Vision Transformer Backbones for Object
    Detection*, ECCV 2022. From the last backbone map (C channels, stride 16):

    ========  ==============================================================
    stride 4  deconv 2x2 (C -> C/2), norm, GELU, deconv 2x2 (C/2 -> C/4)
    stride 8  deconv 2x2 (C -> C/2)
    stride 16 the map itself
    stride 32 max-pool 2x2
    ========  ==============================================================

    Each level then gets a 1x1 lateral and a 3x3 output convolution to
    ``out_channels``, both followed by ``norm_cfg`` (no top-down path: the
    paper finds it unnecessary). Levels beyond the fourth, up to
    ``num_outs``, max-pool the previous output with stride 2 (stride 64 for
    the RPN of Mask R-CNN), as mmdet's FPN does.

    Args:
        backbone_channel (int): C, the channels of the backbone map.
        out_channels (int): channels of every output level.
        num_outs (int): number of output levels, at least 4.
        norm_cfg (dict): norm after every convolution and inside the
            stride-4 branch. Defaults to ViTDet's LayerNorm over channels
            (mmpretrain's ``LN2d``).
        init_cfg (dict, optional): initialisation config.

    Inputs: the backbone outputs; only the last map is used.
    Outputs: a tuple of ``num_outs`` maps, strides 4, 8, 16, 32, 64, ...
    """

    def __init__(self,
                 backbone_channel: int,
                 out_channels: int,
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='mmpretrain.LN2d',
                                       requires_grad=True),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_outs < 4:
            raise ValueError(f'num_outs must be at least 4, got {num_outs}')
        if backbone_channel % 4:
            raise ValueError(f'backbone_channel must be divisible by 4, got '
                             f'{backbone_channel}')
        self.num_outs = num_outs
        c = backbone_channel
        self.rescales = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(c, c // 2, 2, stride=2),
                build_norm_layer(norm_cfg, c // 2)[1], nn.GELU(),
                nn.ConvTranspose2d(c // 2, c // 4, 2, stride=2)),
            nn.ConvTranspose2d(c, c // 2, 2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(2, stride=2),
        ])
        self.lateral_convs = nn.ModuleList(
            ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg,
                       act_cfg=None)
            for channels in (c // 4, c // 2, c, c))
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1,
                       norm_cfg=norm_cfg, act_cfg=None)
            for _ in range(4))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        x = inputs[-1]
        outs = [
            fpn(lateral(rescale(x))) for rescale, lateral, fpn in zip(
                self.rescales, self.lateral_convs, self.fpn_convs)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
