"""Pretrained-weight converters: official Swin and timm ViT releases to the
key formats of the mmseg, mmdet and mmpretrain backbones.

Sources
-------
* **Swin**: the Microsoft release files (``swin_*_patch4_window*.pth``,
  ``{'model': state_dict}``: ``patch_embed.proj``, ``layers.N.blocks.M...``,
  ``layers.N.downsample`` at the *end* of stage N, ``norm``, ``head``). timm's
  current ``SwinTransformer`` (timm >= 0.9) moved the downsample to the
  *start* of the next stage (``layers.N+1.downsample``) and the classifier to
  ``head.fc``; such state dicts are recognised (``layers.0.downsample`` absent,
  ``layers.1.downsample`` present) and remapped to the official layout first
  (:func:`timm_swin_to_official`). Both merge 2x2 patches in the same channel
  order ``(h0 w0, h1 w0, h0 w1, h1 w1)``, so no tensor changes there.
* **ViT**: timm ``vit_*`` state dicts (``cls_token``, ``pos_embed``,
  ``patch_embed.proj``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
  mlp.fc2}``, ``norm``): the original and augreg ImageNet-1k/21k releases,
  DeiT (no distillation token) and MAE.

What is reused and what is written here
---------------------------------------
* Swin, all three targets: the key renaming and the patch-merging reorder
  (mmcv's ``nn.Unfold`` order differs from the official concatenation) come
  from mmdet's ``swin_converter`` (``mmdet.models.backbones.swin``), which is
  the same function as mmseg's ``tools/model_converters/swin2mmseg.py``. Ours
  adds: the timm-layout remap, dropping the non-persistent ``attn_mask``
  buffers, recomputing ``relative_position_index`` when a source lacks it
  (timm does not save it), the final norm and the per-target prefix.
* ViT to mmseg: mmseg's ``tools/model_converters/vit2mmseg.py``
  (``convert_vit``, loaded from the installed mmseg package). Ours adds the
  handling of the heads and norms of the different releases, the pre-norm,
  ``pos_embed`` without a class-token slot, and a check that every key is
  understood.
* ViT to mmpretrain: no upstream converter exists; written here.

Heads and norms (see ``docs/tools/model_converters.md``)
--------------------------------------------------------
* Classifier heads are dropped: ``head`` / ``head.fc`` (1k or 21k classes),
  ``pre_logits`` (the representation layer of the first IN-21K releases) and
  the MAE decoder (``decoder_*``, ``mask_token``) of MAE pre-training files.
* ViT final norm ``norm`` -> ``ln1`` in both targets (used when the backbone
  is built with ``final_norm=True``).
* ViT ``fc_norm`` (global-pool releases, e.g. MAE fine-tuned, which have no
  ``norm``): mmpretrain -> ``ln2``, the norm of ``out_type='avg_featmap'``;
  mmseg has no pooled-feature norm, so it is dropped (build the mmseg ViT
  with ``final_norm=False`` for such a release).
* Swin final norm ``norm`` -> ``norm{last stage}`` (mmpretrain's own rule);
  upstream mmseg/mmdet leave it unused. ``final_norm=False`` drops it instead.
"""
import importlib.util
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional

import torch

from ..checkpoint.state import load_checkpoint_file

StateDict = Dict[str, torch.Tensor]

TARGETS = ('mmseg', 'mmdet', 'mmpretrain')
VIT_TARGETS = ('mmseg', 'mmpretrain')
# mmdet's SwinTransformer.init_weights keeps only keys under 'backbone.'.
DEFAULT_PREFIX = {'mmseg': '', 'mmdet': 'backbone.', 'mmpretrain': ''}


# --------------------------------------------------------------------------
# loading


def unwrap_state_dict(checkpoint: dict) -> StateDict:
    """The tensors of a checkpoint: ``model`` (official Swin, DeiT, MAE),
    ``state_dict`` (timm, mmengine) or the dict itself; ``module.`` is
    stripped."""
    for key in ('state_dict', 'model', 'module'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state_dict = OrderedDict()
    for key, value in checkpoint.items():
        if not torch.is_tensor(value):
            continue
        state_dict[key[7:] if key.startswith('module.') else key] = value
    if not state_dict:
        raise ValueError('the checkpoint holds no tensors')
    return state_dict


def load_state_dict_file(path: str) -> StateDict:
    """Load a release file with weights-only unpickling (``.pth``, ``.bin``)
    or from ``.safetensors``; returns its state dict."""
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return unwrap_state_dict(load_file(path, device='cpu'))
    return unwrap_state_dict(load_checkpoint_file(path))


def save_converted(state_dict: StateDict, dst: str) -> None:
    """Write a converted state dict with ``torch.save``, making DST's
    folder; what every tools/model_converters script ends with."""
    if osp.dirname(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
    torch.save(state_dict, dst)


def add_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    return OrderedDict((prefix + k, v) for k, v in state_dict.items())


def _upstream_tool(package: str, script: str):
    """Import a converter script shipped in ``<package>/.mim/tools``."""
    module = importlib.import_module(package)
    path = osp.join(
        osp.dirname(module.__file__), '.mim', 'tools', 'model_converters',
        script)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{package} ships no {script} at {path}; this converter reuses it')
    spec = importlib.util.spec_from_file_location(
        f'_mmpeft_upstream_{package}_{script[:-3]}', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _check_keys(state_dict: StateDict, patterns, what: str) -> None:
    unknown = [k for k in state_dict
               if not any(re.fullmatch(p, k) for p in patterns)]
    if unknown:
        raise ValueError(
            f'{what}: keys this converter does not understand (an '
            f'unsupported variant?): {unknown[:10]}'
            f'{" ..." if len(unknown) > 10 else ""}')


def _report(report: Optional[dict], **items) -> None:
    if report is not None:
        for key, value in items.items():
            if isinstance(value, list):
                report.setdefault(key, []).extend(value)
            else:
                report[key] = value


# --------------------------------------------------------------------------
# ViT (timm)

VIT_DROPPED = (r'head(\..*)?', r'head_drop\..*', r'pre_logits\..*',
               r'decoder.*', r'mask_token')

MMSEG_VIT_KEYS = (
    r'cls_token', r'pos_embed', r'patch_embed\.projection\.(weight|bias)',
    r'layers\.\d+\.ln[12]\.(weight|bias)',
    r'layers\.\d+\.attn\.attn\.(in_proj_weight|in_proj_bias)',
    r'layers\.\d+\.attn\.attn\.out_proj\.(weight|bias)',
    r'layers\.\d+\.ffn\.layers\.(0\.0|1)\.(weight|bias)',
    r'ln1\.(weight|bias)', r'ln_pre\.(weight|bias)')

MMPRETRAIN_VIT_KEYS = (
    r'cls_token', r'pos_embed', r'patch_embed\.projection\.(weight|bias)',
    r'layers\.\d+\.ln[12]\.(weight|bias)',
    r'layers\.\d+\.attn\.(qkv|proj)\.(weight|bias)',
    r'layers\.\d+\.attn\.gamma1\.weight', r'layers\.\d+\.ffn\.gamma2\.weight',
    r'layers\.\d+\.ffn\.layers\.(0\.0|1)\.(weight|bias)',
    r'ln[12]\.(weight|bias)', r'pre_norm\.(weight|bias)')


def _prepare_timm_vit(state_dict: StateDict,
                      report: Optional[dict]) -> StateDict:
    """Drop heads and MAE decoder; give ``pos_embed`` a class-token slot."""
    state_dict = unwrap_state_dict(state_dict)
    if 'dist_token' in state_dict or 'reg_token' in state_dict:
        raise ValueError('distillation / register tokens (DeiT-distilled, '
                         'ViT-reg) have no place in the mm* ViTs')
    if 'cls_token' not in state_dict:
        raise ValueError('no cls_token: the mmseg and mmpretrain ViTs '
                         'expect a class token in the checkpoint')
    dropped = [k for k in state_dict
               if any(re.fullmatch(p, k) for p in VIT_DROPPED)]
    out = OrderedDict((k, v) for k, v in state_dict.items()
                      if k not in dropped)
    pos_embed = out['pos_embed']
    tokens = pos_embed.shape[1]
    if math.isqrt(tokens)**2 == tokens:
        # timm's no_embed_class=True: pos_embed covers the patches only and
        # the class token gets none. mm* add pos_embed after concatenating
        # the class token, so a zero row in front is exactly equivalent.
        out['pos_embed'] = torch.cat(
            [pos_embed.new_zeros(1, 1, pos_embed.shape[2]), pos_embed], 1)
        _report(report, notes=['pos_embed: zero class-token slot added'])
    _report(report, dropped=dropped)
    return out


def fold_patch_bias(state_dict: StateDict, bias_key: str) -> StateDict:
    """Move the patch-embedding bias into the patch rows of ``pos_embed``.

    Every patch token gets ``conv(x) + b + pos``; with ``b`` added to
    ``pos_embed[:, 1:]`` instead, a backbone without a patch bias computes
    the same tokens (the class token, row 0, never had the bias). Resizing
    ``pos_embed`` later keeps this exact: interpolation weights sum to 1.
    """
    out = OrderedDict(state_dict)
    bias = out.pop(bias_key)
    pos_embed = out['pos_embed'].clone()
    pos_embed[:, 1:] += bias
    out['pos_embed'] = pos_embed
    return out


def timm_vit_to_mmseg(state_dict: StateDict,
                      patch_bias: str = 'fold',
                      report: Optional[dict] = None) -> StateDict:
    """timm ViT -> mmseg ``VisionTransformer`` keys.

    Reuses mmseg's ``vit2mmseg.convert_vit``; ``fc_norm`` is dropped (mmseg
    has no pooled-feature norm) and ``norm_pre`` becomes ``ln_pre``. Build
    the mmseg ViT with ``norm_cfg=dict(type='LN', eps=1e-6)`` (timm's eps),
    ``final_norm=True`` to use the release's ``norm`` and ``pre_norm=True``
    for releases with ``norm_pre`` (CLIP-style).

    ``patch_bias``: mmseg's ViT has ``patch_bias=False`` by default (so do
    its ViT configs), and a bias key would be dropped as unexpected, losing
    the release's patch-embedding bias. ``'fold'`` (default) adds it to the
    patch rows of ``pos_embed``, which is exact for ``patch_bias=False``;
    ``'keep'`` keeps the key, for a backbone built with ``patch_bias=True``.
    """
    if patch_bias not in ('fold', 'keep'):
        raise ValueError(f"patch_bias must be 'fold' or 'keep', got "
                         f'{patch_bias!r}')
    state_dict = _prepare_timm_vit(state_dict, report)
    if patch_bias == 'fold' and 'patch_embed.proj.bias' in state_dict:
        state_dict = fold_patch_bias(state_dict, 'patch_embed.proj.bias')
        _report(report, notes=['patch_embed bias folded into pos_embed'])
    fc_norm = [k for k in state_dict if k.startswith('fc_norm.')]
    _report(report, dropped=fc_norm)
    state_dict = OrderedDict(
        (k, v) for k, v in state_dict.items() if k not in fc_norm)
    # norm_pre would pass through convert_vit unchanged.
    pre = OrderedDict((k.replace('norm_pre.', 'ln_pre.'), v)
                      for k, v in state_dict.items()
                      if k.startswith('norm_pre.'))
    rest = OrderedDict(
        (k, v) for k, v in state_dict.items() if not k.startswith('norm_pre.'))
    converted = _upstream_tool('mmseg', 'vit2mmseg.py').convert_vit(rest)
    converted.update(pre)
    _check_keys(converted, MMSEG_VIT_KEYS, 'timm ViT -> mmseg')
    return converted


_VIT_BLOCK_RENAMES = (
    ('norm1.', 'ln1.'), ('norm2.', 'ln2.'), ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'), ('ls1.gamma', 'attn.gamma1.weight'),
    ('ls2.gamma', 'ffn.gamma2.weight'), ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'))


def timm_vit_to_mmpretrain(state_dict: StateDict,
                           report: Optional[dict] = None) -> StateDict:
    """timm ViT -> mmpretrain ``VisionTransformer`` keys (written here).

    ``norm`` -> ``ln1`` (``final_norm=True``), ``fc_norm`` -> ``ln2``
    (``out_type='avg_featmap'``, as mmpretrain's MAE fine-tuning configs),
    ``norm_pre`` -> ``pre_norm``, LayerScale ``ls1/ls2.gamma`` ->
    ``attn.gamma1`` / ``ffn.gamma2``.
    """
    state_dict = _prepare_timm_vit(state_dict, report)
    out = OrderedDict()
    for key, value in state_dict.items():
        new = key
        if key.startswith('patch_embed.proj.'):
            new = key.replace('patch_embed.proj.', 'patch_embed.projection.')
        elif key.startswith('blocks.'):
            _, index, rest = key.split('.', 2)
            for old, repl in _VIT_BLOCK_RENAMES:
                if rest.startswith(old):
                    rest = repl + rest[len(old):]
                    break
            new = f'layers.{index}.{rest}'
        elif key.startswith('norm.'):
            new = 'ln1.' + key[len('norm.'):]
        elif key.startswith('fc_norm.'):
            new = 'ln2.' + key[len('fc_norm.'):]
        elif key.startswith('norm_pre.'):
            new = 'pre_norm.' + key[len('norm_pre.'):]
        out[new] = value
    _check_keys(out, MMPRETRAIN_VIT_KEYS, 'timm ViT -> mmpretrain')
    return out


def timm_vit_to(target: str, state_dict: StateDict,
                patch_bias: str = 'fold',
                report: Optional[dict] = None) -> StateDict:
    """Dispatch on ``target``; ``patch_bias`` applies to mmseg only."""
    if target == 'mmseg':
        return timm_vit_to_mmseg(state_dict, patch_bias, report)
    if target == 'mmpretrain':
        return timm_vit_to_mmpretrain(state_dict, report)
    raise ValueError(f'ViT target must be one of {VIT_TARGETS}, got '
                     f'{target!r} (mmdet has no registered ViT backbone)')


# --------------------------------------------------------------------------
# Swin (official / timm)

SWIN_KEYS = (
    r'patch_embed\.(projection|norm)\.(weight|bias)', r'absolute_pos_embed',
    r'stages\.\d+\.blocks\.\d+\.norm[12]\.(weight|bias)',
    r'stages\.\d+\.blocks\.\d+\.attn\.w_msa\.'
    r'(relative_position_bias_table|relative_position_index)',
    r'stages\.\d+\.blocks\.\d+\.attn\.w_msa\.(qkv|proj)\.(weight|bias)',
    r'stages\.\d+\.blocks\.\d+\.ffn\.layers\.(0\.0|1)\.(weight|bias)',
    r'stages\.\d+\.downsample\.(norm\.weight|norm\.bias|reduction\.weight)',
    r'norm\d+\.(weight|bias)')


def is_timm_swin_layout(state_dict: StateDict) -> bool:
    """timm >= 0.9 puts the downsample at the start of the next stage."""
    has = lambda i: any(  # noqa: E731
        k.startswith(f'layers.{i}.downsample.') for k in state_dict)
    return not has(0) and has(1)


def timm_swin_to_official(state_dict: StateDict) -> StateDict:
    """Current timm ``SwinTransformer`` keys -> the official release layout.

    ``layers.N.downsample`` -> ``layers.N-1.downsample`` and ``head.fc`` ->
    ``head`` (the inverse of timm's ``checkpoint_filter_fn``). Tensors are
    unchanged: both merge patches in the order (h0 w0, h1 w0, h0 w1, h1 w1).
    timm does not save ``relative_position_index`` and ``attn_mask``.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        key = re.sub(r'^layers\.(\d+)\.downsample\.',
                     lambda m: f'layers.{int(m.group(1)) - 1}.downsample.',
                     key)
        if key.startswith('head.fc.'):
            key = 'head.' + key[len('head.fc.'):]
        out[key] = value
    return out


def swin_relative_position_index(window_size: int) -> torch.Tensor:
    """The official Swin ``relative_position_index`` for a square window."""
    coords = torch.stack(
        torch.meshgrid(
            torch.arange(window_size), torch.arange(window_size),
            indexing='ij')).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    relative = relative + (window_size - 1)
    relative[:, :, 0] *= 2 * window_size - 1
    return relative.sum(-1)


def _prepare_official_swin(state_dict: StateDict,
                           report: Optional[dict]) -> StateDict:
    state_dict = unwrap_state_dict(state_dict)
    layout = 'timm' if is_timm_swin_layout(state_dict) else 'official'
    if layout == 'timm':
        state_dict = timm_swin_to_official(state_dict)
    if not any(k.startswith('layers.') for k in state_dict):
        raise ValueError('not a Swin state dict: no layers.N keys')
    if any(k.endswith(('.relative_coords_table', '.logit_scale'))
           for k in state_dict):
        raise ValueError('this is a Swin V2 state dict; only V1 is supported')
    dropped = [k for k in state_dict
               if k.endswith('attn_mask') or k.startswith('head.')
               or k == 'head']
    out = OrderedDict(
        (k, v) for k, v in state_dict.items() if k not in dropped)
    added = []
    for key in list(out):
        if key.endswith('attn.relative_position_bias_table'):
            index_key = key.replace('bias_table', 'index')
            if index_key not in out:
                size = math.isqrt(out[key].shape[0])
                out[index_key] = swin_relative_position_index((size + 1) // 2)
                added.append(index_key)
    _report(report, source_layout=layout, dropped=dropped, added=added)
    return out


def official_swin_to_mm(state_dict: StateDict,
                        final_norm: bool = True,
                        report: Optional[dict] = None) -> StateDict:
    """Official (or timm) Swin -> the key layout shared by the mmseg, mmdet
    and mmpretrain ``SwinTransformer`` (no prefix)."""
    from mmdet.models.backbones.swin import swin_converter

    state_dict = _prepare_official_swin(state_dict, report)
    last = max(int(k.split('.')[1]) for k in state_dict
               if k.startswith('layers.'))
    converted = OrderedDict()
    for key, value in swin_converter(state_dict).items():
        key = key[len('backbone.'):]
        if key.startswith('norm.'):
            if not final_norm:
                _report(report, dropped=[key])
                continue
            key = f'norm{last}.' + key[len('norm.'):]
        converted[key] = value
    _check_keys(converted, SWIN_KEYS, 'official Swin -> mm*')
    return converted


def official_swin_to_mmseg(state_dict: StateDict,
                           final_norm: bool = True,
                           report: Optional[dict] = None) -> StateDict:
    """Official Swin -> mmseg ``SwinTransformer`` keys."""
    return official_swin_to_mm(state_dict, final_norm, report)


def official_swin_to_mmdet(state_dict: StateDict,
                           final_norm: bool = True,
                           report: Optional[dict] = None) -> StateDict:
    """Official Swin -> mmdet ``SwinTransformer`` keys under ``backbone.``
    (its ``init_weights`` reads only those; keep ``convert_weights=False``).
    """
    return add_prefix(official_swin_to_mm(state_dict, final_norm, report),
                      DEFAULT_PREFIX['mmdet'])


def official_swin_to_mmpretrain(state_dict: StateDict,
                                final_norm: bool = True,
                                report: Optional[dict] = None) -> StateDict:
    """Official Swin -> mmpretrain ``SwinTransformer`` keys."""
    return official_swin_to_mm(state_dict, final_norm, report)


def official_swin_to(target: str, state_dict: StateDict,
                     final_norm: bool = True,
                     report: Optional[dict] = None) -> StateDict:
    converters = {
        'mmseg': official_swin_to_mmseg,
        'mmdet': official_swin_to_mmdet,
        'mmpretrain': official_swin_to_mmpretrain
    }
    if target not in converters:
        raise ValueError(f'Swin target must be one of {TARGETS}, got '
                         f'{target!r}')
    return converters[target](state_dict, final_norm, report)


# --------------------------------------------------------------------------
# DINOv2 (facebookresearch/dinov2 release files)

DINOV2_SWIGLU = re.compile(r'blocks\.(\d+)\.mlp\.(w12|w3)\.(weight|bias)')


def official_dinov2_to_mmpretrain(state_dict: StateDict,
                                  report: Optional[dict] = None
                                  ) -> StateDict:
    """Official DINOv2 backbone (``dinov2_vit{s,b,l,g}14_pretrain.pth``)
    -> mmpretrain ``VisionTransformer`` keys (written here).

    The release uses timm's ViT key names (``ls1.gamma`` layer scale,
    ``norm`` final norm) plus ``mask_token`` (iBOT's masking, unused by a
    backbone: dropped). The giant's SwiGLU FFN ``mlp.w12`` / ``mlp.w3``
    becomes ``ffn.w12`` / ``ffn.w3`` of mmpretrain's ``SwiGLUFFNFused``
    (the same fused [gate; value] rows). Build the backbone with
    ``patch_size=14, layer_scale_init_value=1e-5`` (plus
    ``layer_cfgs=dict(ffn_type='swiglu_fused')`` for the giant) and
    ``img_size=518`` for the release's 37 x 37 ``pos_embed``.
    Register-token releases (``*_reg4_*``) are refused: mmpretrain 1.2.0's
    ViT has no register tokens.
    """
    state_dict = unwrap_state_dict(state_dict)
    if 'register_tokens' in state_dict:
        raise ValueError('register_tokens: a DINOv2-with-registers release; '
                         "mmpretrain 1.2.0's VisionTransformer has no "
                         'register tokens, use the release without them')
    swiglu = OrderedDict()
    rest = OrderedDict()
    for key, value in state_dict.items():
        match = DINOV2_SWIGLU.fullmatch(key)
        if match:
            index, layer, kind = match.groups()
            swiglu[f'layers.{index}.ffn.{layer}.{kind}'] = value
        else:
            rest[key] = value
    converted = timm_vit_to_mmpretrain(rest, report)
    converted.update(swiglu)
    return converted


# --------------------------------------------------------------------------
# EVA-02 (baaivision/EVA release files)

EVA02_DROPPED = (r'head(\..*)?', r'lm_head\..*', r'mask_token',
                 r'(blocks\.\d+\.attn\.)?rope\.freqs_(cos|sin)')
EVA02_KEYS = (
    r'cls_token', r'pos_embed', r'patch_embed\.projection\.(weight|bias)',
    r'layers\.\d+\.norm[12]\.(weight|bias)',
    r'layers\.\d+\.attn\.(qkv|proj)\.(weight|bias)',
    r'layers\.\d+\.mlp\.(w12|w3|norm)\.(weight|bias)', r'ln[12]\.(weight|bias)')
_EVA02_RENAMES = (('mlp.ffn_ln.', 'mlp.norm.'), ('mlp.w3.', 'mlp.w3.'),
                  ('attn.proj.', 'attn.proj.'), ('norm1.', 'norm1.'),
                  ('norm2.', 'norm2.'))


def _eva02_qkv(block: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """q/k/v projections with q and v biases (k has none) -> one qkv."""
    weight = torch.cat([block.pop(f'attn.{p}_proj.weight')
                        for p in 'qkv'])
    q_bias, v_bias = block.pop('attn.q_bias'), block.pop('attn.v_bias')
    bias = torch.cat([q_bias, torch.zeros_like(q_bias), v_bias])
    return {'attn.qkv.weight': weight, 'attn.qkv.bias': bias}


def _eva02_swiglu(block: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """w1 (gate) and w2 (value) -> mmpretrain's fused w12 = [w1; w2]."""
    return {f'mlp.w12.{kind}': torch.cat([block.pop(f'mlp.w1.{kind}'),
                                          block.pop(f'mlp.w2.{kind}')])
            for kind in ('weight', 'bias')}


def _eva02_block(block: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    block = dict(block)
    out = {**_eva02_qkv(block), **_eva02_swiglu(block)}
    for key, value in block.items():
        for old, new in _EVA02_RENAMES:
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            out[key] = value  # left for the key check to name
    return out


def official_eva02_to_mmpretrain(state_dict: StateDict,
                                 report: Optional[dict] = None
                                 ) -> StateDict:
    """Official EVA-02 (``eva02_{Ti,S,B,L}_pt_*_p14.pt`` and fine-tuned
    files) -> mmpretrain ``ViTEVA02`` keys (written here).

    Per block: ``attn.{q,k,v}_proj`` -> one ``attn.qkv`` (bias ``[q_bias;
    0; v_bias]``: EVA-02 has no k bias), ``mlp.w1`` / ``mlp.w2`` -> the
    fused ``mlp.w12`` (gate rows first, as mmpretrain's ``SwiGLUFFN``
    chunks), ``mlp.ffn_ln`` -> ``mlp.norm`` (``sub_ln=True``). ``norm`` ->
    ``ln1`` (pre-training files, ``final_norm=True``), ``fc_norm`` -> ``ln2``
    (fine-tuned files, ``out_type='avg_featmap'``). Dropped: heads, MIM's ``lm_head`` and ``mask_token``, and the
    RoPE tables (recomputed from the grid). Build with ``patch_size=14,
    sub_ln=True, norm_cfg=dict(type='LN', eps=1e-6)``.
    """
    state_dict = unwrap_state_dict(state_dict)
    dropped = [k for k in state_dict
               if any(re.fullmatch(p, k) for p in EVA02_DROPPED)]
    blocks: Dict[int, Dict[str, torch.Tensor]] = {}
    out = OrderedDict()
    for key, value in state_dict.items():
        if key in dropped:
            continue
        if key.startswith('blocks.'):
            _, index, rest = key.split('.', 2)
            blocks.setdefault(int(index), {})[rest] = value
        elif key.startswith('patch_embed.proj.'):
            out['patch_embed.projection.' +
                key[len('patch_embed.proj.'):]] = value
        elif key.startswith('norm.'):
            out['ln1.' + key[len('norm.'):]] = value
        elif key.startswith('fc_norm.'):
            out['ln2.' + key[len('fc_norm.'):]] = value
        else:
            out[key] = value
    for index in sorted(blocks):
        for key, value in _eva02_block(blocks[index]).items():
            out[f'layers.{index}.{key}'] = value
    _report(report, dropped=dropped)
    _check_keys(out, EVA02_KEYS, 'official EVA-02 -> mmpretrain')
    return out
