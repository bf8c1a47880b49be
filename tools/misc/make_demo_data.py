"""Create the synthetic demo datasets (seeded, idempotent).

    python tools/misc/make_demo_data.py [--out data/demo] [--seed 0]
        [--size 64] [--num-train N] [--num-val 128] [--workers 2]
        [--datasets seg_source seg_target coco_target nyu_target] [--force]

Writes <out>/<task>_<variant>/ for each dataset: ADE20K-style semantic
segmentation (seg_*), COCO instance segmentation (coco_*) and the NYU-v2
depth layout (nyu_*). A dataset already there with the same arguments and
intact files (checked against its manifest.json) is reused; other arguments
or --force regenerate it. See docs/demo_data.md.
"""
import argparse
import importlib
import os
import os.path as osp
import sys
import time
import types

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def import_generator(keep: bool):
    """Import mmpeft.datasets.demo_data without running the package
    ``__init__`` files, which import torch, mmseg and mmdet (several
    seconds); the generator needs only numpy and OpenCV. ``keep``: leave
    the light modules registered (worker processes look functions up by
    name); otherwise a later ``import mmpeft`` imports it for real."""
    if 'mmpeft' in sys.modules:
        return importlib.import_module('mmpeft.datasets.demo_data')
    stubs = {}
    for name, path in (('mmpeft', osp.join(REPO, 'mmpeft')),
                       ('mmpeft.datasets', osp.join(REPO, 'mmpeft',
                                                    'datasets'))):
        stubs[name] = sys.modules[name] = types.ModuleType(name)
        stubs[name].__path__ = [path]
    try:
        return importlib.import_module('mmpeft.datasets.demo_data')
    finally:
        if not keep:
            for name in [n for n in sys.modules
                         if n == 'mmpeft' or n.startswith('mmpeft.')]:
                del sys.modules[name]


demo_data = import_generator(keep=__name__ == '__main__')
ALL_DATASETS = demo_data.ALL_DATASETS
DEFAULT_DATASETS = demo_data.DEFAULT_DATASETS
DEFAULTS = demo_data.DEFAULTS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out', default='data/demo', help='output folder')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'],
                        help='random seed (>= 0)')
    parser.add_argument('--size', type=int, default=DEFAULTS['size'],
                        help='image height and width in pixels')
    parser.add_argument('--num-train', type=int,
                        default=DEFAULTS['num_train'],
                        help='images in each training split (unset: '
                        + ', '.join(f'{n} for {v} datasets' for v, n in
                                    demo_data.DEFAULT_NUM_TRAIN.items())
                        + ')')
    parser.add_argument('--num-val', type=int, default=DEFAULTS['num_val'],
                        help='images in each validation / test split')
    parser.add_argument('--datasets', nargs='+', default=DEFAULT_DATASETS,
                        metavar='NAME',
                        help='datasets to write, from ' +
                        ', '.join(ALL_DATASETS))
    parser.add_argument('--workers', type=int,
                        default=min(2, os.cpu_count() or 1),
                        help='processes that render images (same bytes)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if a matching dataset exists')
    args = parser.parse_args(argv)
    names = dict(seed='--seed', size='--size', num_train='--num-train',
                 num_val='--num-val', datasets='--datasets',
                 workers='--workers')
    try:
        demo_data.check_args(args.seed, args.size, args.num_train,
                             args.num_val, args.datasets, args.workers)
    except (TypeError, ValueError) as e:
        message = str(e)
        key = next(k for k in names if message.startswith(k))
        parser.error(f'argument {names[key]}: '
                     f'{message[len(key):].lstrip(": ")}')
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    results = demo_data.generate_demo_data(
        out=args.out, seed=args.seed, size=args.size,
        num_train=args.num_train, num_val=args.num_val,
        datasets=args.datasets, force=args.force, workers=args.workers,
        log=print)
    generated = sum(r['status'] == 'generated' for r in results.values())
    print(f'{len(results)} datasets in {args.out} ({generated} generated, '
          f'{len(results) - generated} reused) in '
          f'{time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
