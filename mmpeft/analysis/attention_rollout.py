"""Attention rollout (Abnar and Zuidema, 2020) for the OpenMMLab ViT and
Swin backbones, with or without adapters.

The attention probabilities are recomputed in forward hooks on the attention
modules from the inputs they receive (their ``qkv`` projection, the relative
position bias and the shift mask of Swin), so no upstream class is patched
and the backbone's own outputs are untouched. The model must be in eval mode
(attention dropout off); hooks live only inside :class:`AttentionRecorder`.

Every attention matrix A (queries in rows) is prepared as in the reference
rollout: heads fused (``mean``, ``max`` or ``min``); optionally the lowest
``discard_ratio`` fraction of its entries set to zero; then
``A_hat = normalise_rows(0.5 * A + 0.5 * I)``, the identity standing for the
residual connection. Rollout multiplies these through the blocks; we only
need one row of the product, so a readout vector ``v`` is propagated from the
last block back to the first, ``v <- v A_hat``, which never forms a
token-by-token matrix larger than one attention map.

ViT (standard rollout)
    ``v`` starts at the class token (``readout='cls'``, the default when
    there is one) or uniform over the patch tokens (``'mean'``); the map is
    ``v`` over the patch tokens after all blocks. With ``discard_ratio`` the
    class token's attention to itself is never discarded (as in the widely
    used implementation by J. Gildenblat).

Swin (this project's definition; the paper does not define one)
    Swin has no class token and attends within (shifted) windows. Its
    classifier reads the average of the last stage's tokens, so ``v`` starts
    uniform over the last stage's tokens, and each block propagates it
    window by window: ``v`` is laid on the block's padded token grid, rolled
    by the block's shift exactly as the block rolls its input, split into its
    windows and multiplied by each window's ``A_hat``; mass that lands on
    padding tokens is dropped (they carry no image content). Going from a
    stage back to the one before it, each merged token's mass is split
    equally among the 2x2 tokens that patch merging concatenated into it. The
    map is ``v`` on the grid of ``first_stage`` (default 0, the 1/4-resolution
    grid; ``first_stage=3`` rolls out over the last stage only); a token's
    value is the share of the pooled output that flows back to it through
    attention and residual paths. ``discard_ratio`` applies to each window's
    matrix, nothing protected.
"""
from dataclasses import dataclass
from functools import partial
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

HEAD_FUSIONS = ('mean', 'max', 'min')
READOUTS = ('auto', 'cls', 'mean')


# --------------------------------------------------------------------------
# preparing one attention matrix


def fuse_heads(attn: torch.Tensor, head_fusion: str) -> torch.Tensor:
    """(..., heads, N, N) -> (..., N, N)."""
    if head_fusion == 'mean':
        return attn.mean(-3)
    if head_fusion == 'max':
        return attn.amax(-3)
    if head_fusion == 'min':
        return attn.amin(-3)
    raise ValueError(f'head_fusion must be one of {HEAD_FUSIONS}, got '
                     f'{head_fusion!r}')


def discard_lowest(attn: torch.Tensor,
                   ratio: float,
                   keep_first: bool = False) -> torch.Tensor:
    """Zero the lowest ``ratio`` fraction of each (N, N) matrix's entries;
    ``keep_first`` protects entry (0, 0)."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f'discard_ratio must be in [0, 1), got {ratio}')
    n = attn.shape[-1]
    count = int(n * n * ratio)
    if count == 0:
        return attn
    flat = attn.reshape(-1, n * n).clone()
    first = flat[:, 0].clone()
    index = flat.topk(count, dim=-1, largest=False).indices
    flat.scatter_(-1, index, 0.0)
    if keep_first:
        flat[:, 0] = first
    return flat.view_as(attn)


def with_residual(attn: torch.Tensor) -> torch.Tensor:
    """``normalise_rows(0.5 * A + 0.5 * I)``."""
    eye = torch.eye(attn.shape[-1], dtype=attn.dtype, device=attn.device)
    attn = 0.5 * attn + 0.5 * eye
    return attn / attn.sum(-1, keepdim=True)


# --------------------------------------------------------------------------
# recomputing attention probabilities in hooks
#
# The backbone table (``BackboneSpec.attention``) names one of these kinds.
ATTENTION_KINDS = ('fused_qkv', 'torch_mha', 'rope_qkv', 'shifted_window')


def _softmax_attention(q, k, scale, bias=None):
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    return attn.softmax(-1)


def qkv_attention(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Probabilities of an attention with a fused ``qkv`` Linear
    (mmpretrain ``MultiheadAttention``): (B, heads, N, N)."""
    B, N, _ = x.shape
    heads = module.num_heads
    qkv = module.qkv(x).reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)
    scale = getattr(module, 'scale', None)
    sdpa = getattr(module, 'scaled_dot_product_attention', None)
    if scale is None and isinstance(sdpa, partial):
        scale = sdpa.keywords.get('scale')
    if scale is None:
        scale = qkv.shape[-1]**-0.5
    return _softmax_attention(qkv[0], qkv[1], scale)


def rope_qkv_attention(module: nn.Module, x: torch.Tensor,
                       patch_resolution) -> torch.Tensor:
    """Probabilities of EVA-02's ``AttentionWithRoPE``: q and k of the grid
    tokens rotated by their position, as its forward does."""
    B, N, _ = x.shape
    qkv = module.qkv(x).reshape(B, N, 3, module.num_heads, -1)
    q, k, _ = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    prefix = 1 if module.with_cls_token else 0
    if module.rope:
        q = torch.cat((q[:, :, :prefix],
                       module.rope(q[:, :, prefix:], patch_resolution)), -2)
        k = torch.cat((k[:, :, :prefix],
                       module.rope(k[:, :, prefix:], patch_resolution)), -2)
    return _softmax_attention(q, k, module.scale)


def torch_mha_attention(module: nn.MultiheadAttention, query: torch.Tensor,
                        key: torch.Tensor) -> torch.Tensor:
    """Probabilities of ``nn.MultiheadAttention`` (mmseg ViT), per head:
    (B, heads, Nq, Nk)."""
    if not module.batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    if not module._qkv_same_embed_dim:
        raise NotImplementedError('separate q/k/v projections')
    C, heads = module.embed_dim, module.num_heads
    weight, bias = module.in_proj_weight, module.in_proj_bias
    q = F.linear(query, weight[:C], None if bias is None else bias[:C])
    k = F.linear(key, weight[C:2 * C],
                 None if bias is None else bias[C:2 * C])
    B, Nq, Nk = q.shape[0], q.shape[1], k.shape[1]
    q = q.view(B, Nq, heads, -1).transpose(1, 2)
    k = k.view(B, Nk, heads, -1).transpose(1, 2)
    return _softmax_attention(q, k, q.shape[-1]**-0.5)


def window_attention(module: nn.Module, x: torch.Tensor,
                     mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Probabilities of a Swin ``WindowMSA`` (mmseg, mmdet, mmpretrain):
    (B * nW, heads, N, N), with relative position bias and shift mask."""
    B_, N, _ = x.shape
    heads = module.num_heads
    qkv = module.qkv(x).reshape(B_, N, 3, heads, -1).permute(2, 0, 3, 1, 4)
    bias = module.relative_position_bias_table[
        module.relative_position_index.view(-1)].view(N, N, -1)
    bias = bias.permute(2, 0, 1).unsqueeze(0)
    attn = (qkv[0] * module.scale) @ qkv[1].transpose(-2, -1) + bias
    if mask is not None:
        nW = mask.shape[0]
        attn = attn.view(B_ // nW, nW, heads, N, N) + mask[None, :, None]
        attn = attn.view(B_, heads, N, N)
    return attn.softmax(-1)


@dataclass
class WindowRecord:
    """One Swin block: its stage, grid, window layout and fused attention
    (B, nW, N, N)."""
    stage: int
    hw: Tuple[int, int]
    window: int
    shift: int
    attn: torch.Tensor


def _call_arg(args, kwargs, index, name):
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def backbone_spec(backbone: nn.Module):
    """The backbone's entry in mmpeft's table (which says how to recompute
    its attention), for a wrapper or the upstream class it wraps."""
    from ..models.backbones import spec_of
    return spec_of(backbone)


class AttentionRecorder:
    """Context manager: while active, every forward of ``backbone`` records
    the head-fused attention of each block in ``self.records`` (ViT: (B, N,
    N) tensors; Swin: :class:`WindowRecord`) and the patch grid in
    ``self.grid``."""

    def __init__(self, backbone: nn.Module, head_fusion: str = 'mean'):
        if head_fusion not in HEAD_FUSIONS:
            raise ValueError(f'head_fusion must be one of {HEAD_FUSIONS}, '
                             f'got {head_fusion!r}')
        spec = backbone_spec(backbone)
        if spec.attention is None:
            raise TypeError(f'{type(backbone).__name__}: no attention '
                            f'rollout: {spec.no_rollout}')
        self.spec = spec
        self.family = ('swin' if spec.attention == 'shifted_window' else
                       'vit')
        self.backbone = backbone
        self.head_fusion = head_fusion
        self.handles = []
        self.records: List = []
        self.grid: Optional[Tuple[int, int]] = None
        self._pending = None

    # hooks
    def _grid_hook(self, module, args, output):
        self.grid = tuple(output[1])

    def _vit_mha_hook(self, module, args, kwargs, output):
        query = _call_arg(args, kwargs, 0, 'query')
        key = _call_arg(args, kwargs, 1, 'key')
        key = query if key is None else key
        attn = torch_mha_attention(module, query, key)
        self.records.append(fuse_heads(attn, self.head_fusion))

    def _vit_qkv_hook(self, module, args, kwargs, output):
        x = _call_arg(args, kwargs, 0, 'x')
        attn = qkv_attention(module, x)
        self.records.append(fuse_heads(attn, self.head_fusion))

    def _vit_rope_hook(self, module, args, kwargs, output):
        x = _call_arg(args, kwargs, 0, 'x')
        grid = _call_arg(args, kwargs, 1, 'patch_resolution')
        attn = rope_qkv_attention(module, x, grid)
        self.records.append(fuse_heads(attn, self.head_fusion))

    def _shift_window_hook(self, stage, module, args, kwargs):
        hw = _call_arg(args, kwargs, 1, 'hw_shape')
        self._pending = (stage, tuple(hw), module)

    def _window_hook(self, module, args, kwargs, output):
        x = _call_arg(args, kwargs, 0, 'x')
        mask = _call_arg(args, kwargs, 1, 'mask')
        stage, hw, shift_module = self._pending
        window = int(round(x.shape[1]**0.5))
        shift = shift_module.shift_size if mask is not None else 0
        attn = fuse_heads(window_attention(module, x, mask), self.head_fusion)
        pad_h = -(-hw[0] // window) * window
        pad_w = -(-hw[1] // window) * window
        num_windows = (pad_h // window) * (pad_w // window)
        attn = attn.view(-1, num_windows, *attn.shape[-2:])
        self.records.append(WindowRecord(stage, hw, window, shift, attn))

    def __enter__(self):
        model, hook = self.backbone, self.handles.append
        blocks = [(stage, getattr(block, self.spec.block.attn.module))
                  for stage, block in self.spec.blocks(model)]
        if self.family == 'vit':
            hook(model.get_submodule(self.spec.patch_embed)
                 .register_forward_hook(self._grid_hook))
        for stage, attn in blocks:
            if self.spec.attention == 'torch_mha':
                hook(attn.attn.register_forward_hook(
                    self._vit_mha_hook, with_kwargs=True))
            elif self.spec.attention == 'fused_qkv':
                hook(attn.register_forward_hook(self._vit_qkv_hook,
                                                with_kwargs=True))
            elif self.spec.attention == 'rope_qkv':
                hook(attn.register_forward_hook(self._vit_rope_hook,
                                                with_kwargs=True))
            else:  # 'shifted_window'
                hook(attn.register_forward_pre_hook(
                    partial(self._shift_window_hook, stage),
                    with_kwargs=True))
                hook(attn.w_msa.register_forward_hook(
                    self._window_hook, with_kwargs=True))
        self.records, self.grid = [], None
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        self.handles = []
        return False


# --------------------------------------------------------------------------
# rollout


def vit_rollout(records: Sequence[torch.Tensor], grid: Tuple[int, int],
                prefix: int, readout: str = 'auto',
                discard_ratio: float = 0.0) -> torch.Tensor:
    """Rollout of recorded ViT attention (B, N, N) per block -> (B, H, W)."""
    if readout == 'auto':
        readout = 'cls' if prefix > 0 else 'mean'
    if readout == 'cls' and prefix == 0:
        raise ValueError("readout='cls' needs a class token")
    B, N = records[0].shape[0], records[0].shape[-1]
    H, W = grid
    if N != prefix + H * W:
        raise ValueError(f'{N} tokens do not match {prefix} + {H}x{W}')
    v = records[0].new_zeros(B, N)
    if readout == 'cls':
        v[:, 0] = 1.0
    else:
        v[:, prefix:] = 1.0 / (H * W)
    for attn in reversed(records):
        attn = discard_lowest(attn, discard_ratio, keep_first=prefix > 0)
        v = torch.einsum('bi,bij->bj', v, with_residual(attn))
    return v[:, prefix:].reshape(B, H, W)


def _window_step(v: torch.Tensor, record: WindowRecord,
                 discard_ratio: float) -> torch.Tensor:
    """``v <- v A_hat`` for one Swin block; v: (B, H, W)."""
    B, (H, W), ws, shift = v.shape[0], record.hw, record.window, record.shift
    pad_h, pad_w = -(-H // ws) * ws, -(-W // ws) * ws
    grid = F.pad(v, (0, pad_w - W, 0, pad_h - H))
    if shift:
        grid = torch.roll(grid, (-shift, -shift), dims=(1, 2))
    nh, nw = pad_h // ws, pad_w // ws
    windows = grid.view(B, nh, ws, nw, ws).permute(0, 1, 3, 2, 4)
    windows = windows.reshape(B, nh * nw, ws * ws)
    attn = with_residual(discard_lowest(record.attn, discard_ratio))
    windows = torch.einsum('bwi,bwij->bwj', windows, attn)
    grid = windows.view(B, nh, nw, ws, ws).permute(0, 1, 3, 2, 4)
    grid = grid.reshape(B, pad_h, pad_w)
    if shift:
        grid = torch.roll(grid, (shift, shift), dims=(1, 2))
    return grid[:, :H, :W]


def _unmerge(v: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """Split each merged token's mass equally over its 2x2 children."""
    v = v.repeat_interleave(2, 1).repeat_interleave(2, 2) / 4.0
    return v[:, :hw[0], :hw[1]]


def swin_rollout(records: Sequence[WindowRecord],
                 first_stage: int = 0,
                 discard_ratio: float = 0.0) -> torch.Tensor:
    """Rollout of recorded Swin blocks -> (B, H, W) on the grid of
    ``first_stage`` (see the module docstring)."""
    last = records[-1]
    if not 0 <= first_stage <= last.stage:
        raise ValueError(f'first_stage must be in [0, {last.stage}], got '
                         f'{first_stage}')
    B, (H, W) = last.attn.shape[0], last.hw
    v = last.attn.new_full((B, H, W), 1.0 / (H * W))
    stage = last.stage
    for record in reversed(records):
        if record.stage < first_stage:
            break
        if record.stage != stage:
            v = _unmerge(v, record.hw)
            stage = record.stage
        v = _window_step(v, record, discard_ratio)
    return v


@torch.no_grad()
def attention_rollout(backbone: nn.Module,
                      inputs: torch.Tensor,
                      head_fusion: str = 'mean',
                      discard_ratio: float = 0.0,
                      readout: str = 'auto',
                      first_stage: int = 0) -> torch.Tensor:
    """Rollout map of ``backbone`` for ``inputs`` (B, 3, H, W): (B, h, w) on
    the token grid (ViT: patches; Swin: the grid of ``first_stage``), not
    normalised. ``readout`` applies to ViT, ``first_stage`` to Swin. The
    backbone must be in eval mode."""
    if readout not in READOUTS:
        raise ValueError(f'readout must be one of {READOUTS}, got '
                         f'{readout!r}')
    if backbone.training:
        raise RuntimeError('call backbone.eval() first: attention dropout '
                           'and drop-path would make the map random')
    with AttentionRecorder(backbone, head_fusion) as recorder:
        backbone(inputs)
    if not recorder.records:
        raise RuntimeError('no attention was recorded')
    if recorder.family == 'vit':
        return vit_rollout(recorder.records, recorder.grid,
                           recorder.spec.num_prefix_tokens(backbone), readout,
                           discard_ratio)
    return swin_rollout(recorder.records, first_stage, discard_ratio)


def upsample_map(rollout: torch.Tensor,
                 size: Tuple[int, int],
                 normalize: str = 'minmax') -> torch.Tensor:
    """(B, h, w) -> (B, H, W), bilinear, each map scaled to [0, 1]:
    ``'minmax'`` (default; rollout maps of untrained or early layers are
    close to uniform, and this shows their structure) or ``'max'`` (divide
    by the peak, as the reference rollout code does)."""
    if normalize not in ('minmax', 'max'):
        raise ValueError(f"normalize must be 'minmax' or 'max', got "
                         f'{normalize!r}')
    maps = F.interpolate(
        rollout[:, None], size=size, mode='bilinear', align_corners=False)
    maps = maps[:, 0].clamp_min(0)
    flat = maps.flatten(1)
    low = flat.amin(1) if normalize == 'minmax' else torch.zeros_like(
        flat[:, 0])
    span = (flat.amax(1) - low).clamp_min(1e-12)
    return (maps - low[:, None, None]) / span[:, None, None]
