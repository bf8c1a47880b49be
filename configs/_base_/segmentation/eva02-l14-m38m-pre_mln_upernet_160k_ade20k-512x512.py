# UPerNet on ADE20K with EVA-02-L/14 (Fang et al., 2023) through
# mmpretrain's ViTEVA02: RoPE, SwiGLU MLP with its sub-LN, one drop-path per
# block; MIM pre-training on Merged-38M at 224 (16 x 16 position
# embedding, resized to every input; a 512 x 512 crop is padded to 518).
# The data, schedule, neck and heads are mmseg's ViT-B UPerNet recipe with
# ViT-L widths.
_base_ = ['mmseg::vit/vit_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py']
custom_imports = dict(imports=['mmpeft'], allow_failed_imports=False)
# The official release (baaivision/EVA, EVA-02, eva02_L_pt_m38m_p14.pt)
# converted to mmpretrain's keys:
#   python tools/model_converters/eva02_to_mm.py \
#       eva02_L_pt_m38m_p14.pt pretrain/eva02_L_pt_m38m_p14_mmpretrain.pth
pretrained = 'pretrain/eva02_L_pt_m38m_p14_mmpretrain.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ViTEVA02',
        arch='large',
        img_size=224,
        patch_size=14,
        sub_ln=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        out_indices=(5, 11, 17, 23),
        out_type='featmap',
        final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[1024] * 4, out_channels=1024),
    decode_head=dict(in_channels=[1024] * 4),
    auxiliary_head=dict(in_channels=1024))
