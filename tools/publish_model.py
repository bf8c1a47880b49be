"""Publish a checkpoint for a model zoo, or verify a published one.

    python tools/publish_model.py IN OUT [--adapter-only]
    python tools/publish_model.py --verify FILE [FILE ...]

Publishing keeps the weights and meta, drops the training state (optimizer,
schedulers, message hub), and names the file ``<OUT stem>-<sha8>.pth`` after
the first 8 hex digits of its sha256. ``--adapter-only`` also drops the
frozen backbone of a PEFT checkpoint.
"""
import argparse
import os.path as osp
import sys

from mmpeft.checkpoint.publish import publish, verify


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('files', nargs='+', help='IN OUT, or files to verify')
    parser.add_argument('--adapter-only', action='store_true',
                        help='leave out the frozen backbone weights')
    parser.add_argument('--verify', action='store_true',
                        help='check that each file name carries its hash')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.verify:
        failed = False
        for path in args.files:
            try:
                print(f'{path}: OK (sha256 {verify(path)}...)')
            except (OSError, ValueError) as error:
                print(error, file=sys.stderr)
                failed = True
        sys.exit(1 if failed else 0)
    if len(args.files) != 2:
        sys.exit('usage: publish_model.py IN OUT [--adapter-only]')
    in_file, out_file = args.files
    if not osp.isfile(in_file):
        sys.exit(f'{in_file}: no such checkpoint file')
    print(publish(in_file, out_file, args.adapter_only))


if __name__ == '__main__':
    main()
