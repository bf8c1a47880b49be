"""Merge base weights and an adapter checkpoint into one full checkpoint,
or write the adapter-only weights as a portable file.

    python tools/export_model.py CONFIG ADAPTER_CKPT OUT [--merge-lora]
                                 [--adapter-only] [--format pth|safetensors]

The model of CONFIG is built, its backbone loads the base weights named in
its ``init_cfg`` (checked against the hash the adapter checkpoint
expects), the adapter checkpoint loads on top, and the complete state dict
is written to OUT (atomically), ready for deployment without mmpeft's
checkpoint hook.

With ``--adapter-only`` OUT keeps what training changed (adapters, any
other trained backbone weights, neck and heads) and ``meta['peft']``
records the base weights it needs (source and sha256) and the trained
keys; every mmpeft loader completes it from the base weights again.

``--format safetensors`` (the default when OUT ends in ``.safetensors``)
writes a safetensors file: the tensors, and the meta as JSON in its header
together with the mmpeft version. It needs no unpickling to load.

With ``--merge-lora`` the LoRA deltas are folded into the weights they
adapt (W + alpha / r * B A) and the LoRA entries are left out: OUT has the
keys of the model without LoRA and loads where the config has no adapter
(or a plain upstream backbone), with no inference overhead.
"""
import argparse

from mmpeft.adapters.lora import merge_lora
from mmpeft.apis import init_peft_model, load_checkpoint_file
from mmpeft.checkpoint.files import atomic_save
from mmpeft.checkpoint.safetensors_file import (SUFFIX, is_safetensors,
                                                save_safetensors)
from mmpeft.checkpoint.state import (BACKBONE_PREFIX, keep_trained,
                                     peft_backbone, trained_backbone_keys)
from mmpeft.utils import exit_on_bad_input

FORMATS = ('pth', 'safetensors')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config the adapters were '
                        'trained with')
    parser.add_argument('checkpoint', help='adapter-only (or full) '
                        'checkpoint, .pth or .safetensors')
    parser.add_argument('out', help='output file')
    parser.add_argument('--merge-lora', action='store_true',
                        help='fold the LoRA deltas into the weights they '
                        'adapt and leave the LoRA entries out')
    parser.add_argument('--adapter-only', action='store_true',
                        help='leave the frozen backbone out')
    parser.add_argument('--format', choices=FORMATS,
                        help='file format; default: safetensors if OUT ends '
                        f'in {SUFFIX}, else pth')
    args = parser.parse_args()
    suffix_format = 'safetensors' if is_safetensors(args.out) else 'pth'
    args.format = args.format or suffix_format
    if args.format != suffix_format:
        parser.error(f'--format {args.format} needs OUT to '
                     f'{"" if args.format == "safetensors" else "not "}end '
                     f'in {SUFFIX} (loaders tell the formats apart by the '
                     f'suffix), got {args.out}')
    if args.merge_lora and args.adapter_only:
        parser.error('--merge-lora changes the backbone weights themselves, '
                     'so there is no adapter-only form of the result; drop '
                     '--adapter-only')
    return args


def merged_meta(peft_meta: dict, state_dict: dict) -> dict:
    """A merged LoRA changed the adapted weights of the backbone: the whole
    backbone is what training produced (publish --adapter-only keeps it)."""
    trained = sorted(k for k in state_dict if k.startswith(BACKBONE_PREFIX))
    return dict(peft_meta, adapter_only=False, lora_merged=True,
                trained_backbone_keys=trained)


def adapter_only(model, state_dict: dict, peft_meta: dict, config: str):
    """The trained entries of ``state_dict`` and the meta a loader needs
    to put the base weights back under them."""
    backbone = peft_backbone(model)
    if backbone is None:
        raise SystemExit(f'error: --adapter-only: the model of {config} has '
                         f'no PEFT backbone, so nothing marks what was '
                         f'trained')
    trained = trained_backbone_keys(model)
    return keep_trained(state_dict, trained), dict(
        peft_meta, adapter_only=True, base=backbone.base_weights,
        trained_backbone_keys=trained)


def export(args) -> None:
    model = init_peft_model(args.config, args.checkpoint)
    state_dict = merge_lora(model) if args.merge_lora else model.state_dict()
    meta = dict(load_checkpoint_file(args.checkpoint).get('meta', {}))
    if args.adapter_only:
        state_dict, meta['peft'] = adapter_only(model, state_dict,
                                                meta.get('peft', {}),
                                                args.config)
    elif 'peft' in meta:
        meta['peft'] = (merged_meta(meta['peft'], state_dict)
                        if args.merge_lora else
                        dict(meta['peft'], adapter_only=False))
    if args.format == 'safetensors':
        save_safetensors(state_dict, meta, args.out)
    else:
        atomic_save(dict(state_dict=state_dict, meta=meta), args.out)
    print(f'wrote {args.out}')


def main():
    args = parse_args()
    exit_on_bad_input(lambda: export(args))


if __name__ == '__main__':
    main()
