"""Merge base weights and an adapter checkpoint into one full checkpoint.

    python tools/export_model.py CONFIG ADAPTER_CKPT OUT [--merge-lora]

The model of CONFIG is built, its backbone loads the base weights named in
its ``init_cfg`` (checked against the hash the adapter checkpoint
expects), the adapter checkpoint loads on top, and the complete state dict
is written to OUT (atomically), ready for deployment without mmpeft's
checkpoint hook.

With ``--merge-lora`` the LoRA deltas are folded into the weights they
adapt (W + alpha / r * B A) and the LoRA entries are left out: OUT has the
keys of the model without LoRA and loads where the config has no adapter
(or a plain upstream backbone), with no inference overhead.
"""
import argparse

from mmpeft.adapters.lora import merge_lora
from mmpeft.apis import init_peft_model, load_checkpoint_file
from mmpeft.checkpoint.publish import atomic_save
from mmpeft.checkpoint.state import BACKBONE_PREFIX


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config the adapters were '
                        'trained with')
    parser.add_argument('checkpoint', help='adapter-only (or full) checkpoint')
    parser.add_argument('out', help='output file')
    parser.add_argument('--merge-lora', action='store_true',
                        help='fold the LoRA deltas into the weights they '
                        'adapt and leave the LoRA entries out')
    return parser.parse_args()


def merged_meta(peft_meta: dict, state_dict: dict) -> dict:
    """A merged LoRA changed the adapted weights of the backbone: the whole
    backbone is what training produced (publish --adapter-only keeps it)."""
    trained = sorted(k for k in state_dict if k.startswith(BACKBONE_PREFIX))
    return dict(peft_meta, adapter_only=False, lora_merged=True,
                trained_backbone_keys=trained)


def main():
    args = parse_args()
    model = init_peft_model(args.config, args.checkpoint)
    state_dict = merge_lora(model) if args.merge_lora else model.state_dict()
    meta = dict(load_checkpoint_file(args.checkpoint).get('meta', {}))
    if 'peft' in meta:
        meta['peft'] = (merged_meta(meta['peft'], state_dict)
                        if args.merge_lora else
                        dict(meta['peft'], adapter_only=False))
    atomic_save(dict(state_dict=state_dict, meta=meta), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
