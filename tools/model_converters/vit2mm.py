"""Convert a timm ViT release (original, augreg IN-1k/IN-21k, DeiT, MAE) to
the keys of the mmseg or mmpretrain ``VisionTransformer``.

    python tools/model_converters/vit2mm.py SRC DST [--target mmseg|mmpretrain]
        [--patch-bias fold|keep]

SRC: a ``.pth``/``.bin`` (loaded weights-only) or ``.safetensors`` file.
DST: written with ``torch.save`` (a plain state dict). See
docs/tools/model_converters.md for the heads and norms of each release.
"""
import argparse

from mmpeft.models.converters import (VIT_TARGETS, load_state_dict_file,
                                      save_converted, timm_vit_to)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='timm ViT checkpoint')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--target', choices=VIT_TARGETS, default='mmseg')
    parser.add_argument(
        '--patch-bias', choices=('fold', 'keep'), default='fold',
        help="mmseg only: fold the patch-embedding bias into pos_embed "
        "(exact for mmseg's default patch_bias=False) or keep the key (for "
        'a backbone built with patch_bias=True)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = {}
    state_dict = timm_vit_to(args.target, load_state_dict_file(args.src),
                             patch_bias=args.patch_bias, report=report)
    save_converted(state_dict, args.dst)
    print(f'{args.src} -> {args.dst} ({args.target}): {len(state_dict)} '
          f'keys; dropped {report.get("dropped", [])}')
    for note in report.get('notes', []):
        print(f'note: {note}')


if __name__ == '__main__':
    main()
