"""Convert an official Swin release (Microsoft layout; timm's current Swin
layout is recognised and remapped) to the keys of the mmseg, mmdet or
mmpretrain ``SwinTransformer``.

    python tools/model_converters/swin2mm.py SRC DST
        [--target mmseg|mmdet|mmpretrain] [--no-final-norm]

SRC: a ``.pth`` (loaded weights-only) or ``.safetensors`` file.
DST: written with ``torch.save`` (a plain state dict; mmdet keys under
``backbone.``, which mmdet's Swin needs with ``convert_weights=False``).
See docs/tools/model_converters.md.
"""
import argparse

from mmpeft.models.converters import (TARGETS, load_state_dict_file,
                                      official_swin_to, save_converted)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official (or timm) Swin checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--target', choices=TARGETS, default='mmseg')
    parser.add_argument(
        '--no-final-norm', action='store_true',
        help="drop the release's final norm instead of mapping it to the "
        "last stage's output norm (upstream mmseg/mmdet behaviour)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = {}
    state_dict = official_swin_to(
        args.target, load_state_dict_file(args.src),
        final_norm=not args.no_final_norm, report=report)
    save_converted(state_dict, args.dst)
    print(f'{args.src} -> {args.dst} ({args.target}, source layout '
          f'{report["source_layout"]}): {len(state_dict)} keys; dropped '
          f'{len(report.get("dropped", []))} (heads, attn_mask buffers); '
          f'recomputed {len(report.get("added", []))} '
          f'relative_position_index buffers')


if __name__ == '__main__':
    main()
