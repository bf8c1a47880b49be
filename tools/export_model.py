"""Merge base weights and an adapter checkpoint into one full checkpoint.

    python tools/export_model.py CONFIG ADAPTER_CKPT OUT

The model of CONFIG is built, its backbone loads the base weights named in
its ``init_cfg`` (checked against the hash the adapter checkpoint
expects), the adapter checkpoint loads on top, and the complete state dict
is written to OUT (atomically), ready for deployment without mmpeft's
checkpoint hook.
"""
import argparse

from mmpeft.apis import init_peft_model, load_checkpoint_file
from mmpeft.checkpoint.publish import atomic_save


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the config the adapters were '
                        'trained with')
    parser.add_argument('checkpoint', help='adapter-only (or full) checkpoint')
    parser.add_argument('out', help='output file')
    return parser.parse_args()


def main():
    args = parse_args()
    model = init_peft_model(args.config, args.checkpoint)
    meta = dict(load_checkpoint_file(args.checkpoint).get('meta', {}))
    if 'peft' in meta:
        meta['peft'] = dict(meta['peft'], adapter_only=False)
    atomic_save(dict(state_dict=model.state_dict(), meta=meta), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
