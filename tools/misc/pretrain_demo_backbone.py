"""Make the demo's shipped pretrained tiny Swin again.

    python tools/misc/pretrain_demo_backbone.py [--out weights/demo/FILE]
        [--data data/demo] [--cfg-options KEY=VALUE ...]

Generates the source dataset (data/demo/seg_source, reused when unchanged),
trains configs/demo/pretrain_swin-t_upernet_demo-source-64x64.py from
scratch through tools/train.py with all cores, writes the backbone weights
(``backbone.*`` keys, mmpeft.models.pretrained's format) with the decode and
auxiliary heads but not their classifiers (the demo's fine-tuning heads
start from them), and records the file's sha256, the config and the
source-task metrics in weights/demo/manifest.json, which ``make demo``
checks before it uses the file.
"""
import argparse
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmpeft.demo.pretraining import MANIFEST, pretrain_backbone  # noqa: E402

sys.path.insert(0, osp.join(ROOT, 'tools'))
from run_demo import BACKBONES, data_options  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    backbone = BACKBONES['swin-t']
    parser.add_argument('--out', default=backbone.weights)
    parser.add_argument('--data', default=osp.join('data', 'demo'))
    parser.add_argument('--work-dir',
                        default=osp.join('work_dirs', 'pretrain_demo_swin'))
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE')
    args = parser.parse_args()
    os.chdir(ROOT)
    from mmpeft.datasets import generate_demo_data
    generate_demo_data(args.data, datasets=('seg_source', ),
                       workers=os.cpu_count() or 1, log=print)
    record = pretrain_backbone(
        ROOT, backbone, args.work_dir, args.out, os.cpu_count() or 1,
        data_options('source', args.data) + args.cfg_options)
    manifest = {}
    if osp.isfile(MANIFEST):
        with open(MANIFEST) as f:
            manifest = json.load(f)
    manifest[osp.basename(args.out)] = dict(
        record, cfg_options=args.cfg_options,
        size_bytes=osp.getsize(args.out))
    with open(MANIFEST, 'w') as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write('\n')
    print(json.dumps(manifest[osp.basename(args.out)], indent=2))


if __name__ == '__main__':
    main()
