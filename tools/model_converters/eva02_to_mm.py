"""Convert an official EVA-02 release (baaivision/EVA, e.g.
``eva02_L_pt_m38m_p14.pt``) to the keys of mmpretrain's ``ViTEVA02``
(``patch_size=14``, ``sub_ln=True``, ``norm_cfg=dict(type='LN', eps=1e-6)``).

    python tools/model_converters/eva02_to_mm.py SRC DST

SRC: a ``.pt``/``.pth`` (loaded weights-only) or ``.safetensors`` file. DST:
written with ``torch.save`` (a plain state dict). Heads, the MIM
``lm_head`` and the RoPE tables are dropped.
"""
import argparse

from mmpeft.models.converters import (load_state_dict_file,
                                      official_eva02_to_mmpretrain,
                                      save_converted)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official EVA-02 checkpoint')
    parser.add_argument('dst', help='output file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = {}
    state_dict = official_eva02_to_mmpretrain(
        load_state_dict_file(args.src), report=report)
    save_converted(state_dict, args.dst)
    print(f'{args.src} -> {args.dst} (mmpretrain): {len(state_dict)} keys; '
          f'dropped {report.get("dropped", [])}')


if __name__ == '__main__':
    main()
