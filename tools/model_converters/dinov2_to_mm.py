"""Convert an official DINOv2 backbone release (facebookresearch/dinov2,
``dinov2_vit{s,b,l,g}14_pretrain.pth``) to the keys of mmpretrain's
``VisionTransformer`` (arch 'dinov2-*' or a dict, ``patch_size=14``,
``layer_scale_init_value=1e-5``).

    python tools/model_converters/dinov2_to_mm.py SRC DST

SRC: a ``.pth`` (loaded weights-only) or ``.safetensors`` file. DST: written
with ``torch.save`` (a plain state dict). The register-token releases are
refused (mmpretrain 1.2.0 has no register tokens).
"""
import argparse

from mmpeft.models.converters import (load_state_dict_file,
                                      official_dinov2_to_mmpretrain,
                                      save_converted)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official DINOv2 checkpoint')
    parser.add_argument('dst', help='output file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    report = {}
    state_dict = official_dinov2_to_mmpretrain(
        load_state_dict_file(args.src), report=report)
    save_converted(state_dict, args.dst)
    print(f'{args.src} -> {args.dst} (mmpretrain): {len(state_dict)} keys; '
          f'dropped {report.get("dropped", [])}')


if __name__ == '__main__':
    main()
