"""The main job on the embedded demo data (``make demo``).

1. Generates the synthetic data (data/demo, reused when unchanged).
2. Pretrains a tiny Swin + UPerNet by full training on the source task
   (cached in work_dirs/demo; reused while config and data are unchanged).
3. Fine-tunes on the target segmentation task with full fine-tuning, a
   frozen backbone, AdaptFormer, Convpass and iConFormer (``--methods
   all`` adds LoRA, the Houlsby adapter, Mona, BitFit, LN-tune and
   Partial-1, and VPT-deep with its frozen baseline on a tiny ViT
   pretrained the same way), all from that checkpoint, through
   tools/train.py and tools/test.py.
4. Runs one short instance-segmentation and one depth fine-tuning with
   iConFormer.
5. Prints and writes work_dirs/demo/results.md: method, trainable
   parameters (% of backbone), mIoU, training time; the other two tasks'
   metrics; the wall time of each stage.

The fine-tuning runs of steps 3 and 4 are independent: ``--jobs`` of
them (default 2) run at once, each with its share of the CPU cores as
threads. Tiny models use a second thread poorly, so two one-thread runs side
by side finish sooner than two-thread runs in turn. A run's training time
is its wall time, measured while sharing the machine with the other lane.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch
from mmengine.config import Config

import mmpeft  # noqa: F401 (allowlists mmengine checkpoints for torch.load)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join('configs', 'demo')
# Each backbone family of the demo: its pretraining config and the file its
# fine-tuning configs load (their init_cfg checkpoint).
PRETRAINING = {
    'swin-t': (osp.join(DEMO, 'pretrain_swin-t_upernet_demo-source-64x64.py'),
               osp.join('work_dirs', 'demo', 'pretrain_swin-t_source.pth')),
    'vit-tiny': (osp.join(DEMO,
                          'pretrain_vit-tiny_upernet_demo-source-64x64.py'),
                 osp.join('work_dirs', 'demo', 'pretrain_vit_source.pth')),
}
SEG_METHODS = {
    'full fine-tuning': 'full_swin-t_upernet_demo-target-64x64.py',
    'frozen backbone': 'frozen_swin-t_upernet_demo-target-64x64.py',
    'AdaptFormer': 'adaptformer_swin-t_upernet_demo-target-64x64.py',
    'Convpass': 'convpass_swin-t_upernet_demo-target-64x64.py',
    'iConFormer': 'iconformer_swin-t_upernet_demo-target-64x64.py',
    'LoRA': 'lora_swin-t_upernet_demo-target-64x64.py',
    'Houlsby adapter': 'houlsby_swin-t_upernet_demo-target-64x64.py',
    'Mona': 'mona_swin-t_upernet_demo-target-64x64.py',
    'BitFit': 'bitfit_swin-t_upernet_demo-target-64x64.py',
    'LN-tune': 'ln-tune_swin-t_upernet_demo-target-64x64.py',
    'Partial-1': 'partial-1_swin-t_upernet_demo-target-64x64.py',
    # VPT-deep needs a plain ViT: a tiny ViT pretrained like the Swin.
    'frozen tiny ViT': 'frozen_vit-tiny_upernet_demo-target-64x64.py',
    'VPT-deep (tiny ViT)': 'vpt_vit-tiny_upernet_demo-target-64x64.py',
}
# The default study: the two baselines and the three core adapters, within
# the demo's 10-minute budget on 2 cores; '--methods all' adds the others.
CORE_METHODS = list(SEG_METHODS)[:5]
EXTRA_TASKS = {
    'instance segmentation (iConFormer)':
    ('iconformer_swin-t_mask-rcnn_demo-coco-target-64x64.py',
     ['coco/bbox_mAP', 'coco/segm_mAP']),
    'depth (iConFormer)': ('iconformer_swin-t_vpd-head_demo-nyu-target-64x64.py',
                           ['rmse', 'abs_rel', 'd1']),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'))
    parser.add_argument('--data', default=osp.join('data', 'demo'))
    parser.add_argument(
        '--methods', nargs='+', default=CORE_METHODS,
        choices=list(SEG_METHODS) + ['all'], metavar='METHOD',
        help=f'segmentation study methods, or all; one of '
        f'{list(SEG_METHODS)} (default: the first five)')
    parser.add_argument('--skip-extra', action='store_true',
                        help='skip the instance-segmentation and depth runs')
    parser.add_argument('--force-pretrain', action='store_true')
    parser.add_argument('--jobs', type=int, default=2,
                        help='fine-tuning runs at once (default 2)')
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if 'all' in args.methods:
        args.methods = list(SEG_METHODS)
    return args


def run_tool(log_file, threads, *args):
    """Run a tools/ script in a subprocess (the path real runs take) with
    ``threads`` intra-op threads, its output going to ``log_file``; returns
    the wall time."""
    command = [sys.executable, *args]
    print('$', ' '.join(command), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    start = time.time()
    with open(log_file, 'w') as log:
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        with open(log_file) as log:
            tail = log.read()[-4000:]
        sys.exit(f'{args[0]} failed (exit {result.returncode}), see '
                 f'{log_file}:\n{tail}')
    return time.time() - start


def train(config, work_dir, threads):
    os.makedirs(work_dir, exist_ok=True)
    seconds = run_tool(osp.join(work_dir, 'train.log'), threads,
                       'tools/train.py', config, '--work-dir', work_dir)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip(), seconds


def test(config, checkpoint, work_dir, threads):
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    run_tool(osp.join(work_dir, 'test.log'), threads, 'tools/test.py',
             config, checkpoint, '--work-dir', work_dir, '--dump-metrics',
             metrics_file)
    with open(metrics_file) as f:
        return json.load(f)


def fingerprint(config_path, data_root):
    """What the cached pretrained backbone depends on."""
    cfg = Config.fromfile(osp.join(ROOT, config_path))
    with open(osp.join(ROOT, data_root, 'manifest.json')) as f:
        data_hash = json.load(f)['content_sha256']
    text = cfg.pretty_text + data_hash
    return hashlib.sha256(text.encode()).hexdigest()


def backbone_of(config_name):
    """The PRETRAINING key of a demo config ('..._<backbone>_upernet_...')."""
    return config_name.split('_')[1]


def pretrain(args, backbone):
    """Pretrain ``backbone`` on the source task unless a checkpoint of the
    same config and data is cached; returns the seconds spent."""
    config, pretrained = PRETRAINING[backbone]
    stamp_file = pretrained + '.json'
    stamp = fingerprint(config, osp.join(args.data, 'seg_source'))
    if (not args.force_pretrain and osp.isfile(pretrained)
            and osp.isfile(stamp_file)):
        with open(stamp_file) as f:
            if json.load(f).get('fingerprint') == stamp:
                print(f'reusing the pretrained backbone {pretrained}')
                return 0.0
    work_dir = osp.join(args.work_dir, f'pretrain_{backbone}')
    shutil.rmtree(work_dir, ignore_errors=True)
    checkpoint, seconds = train(config, work_dir, os.cpu_count())
    # The backbone's weights under its own names: mmseg's ViT, unlike its
    # Swin, does not strip a 'backbone.' prefix when it loads them.
    state = torch.load(checkpoint, map_location='cpu')['state_dict']
    weights = {
        key[len('backbone.'):]: value
        for key, value in state.items() if key.startswith('backbone.')
    }
    os.makedirs(osp.dirname(pretrained), exist_ok=True)
    torch.save(dict(state_dict=weights), pretrained)
    with open(stamp_file, 'w') as f:
        json.dump(dict(fingerprint=stamp, source=checkpoint), f)
    return seconds


def param_share(config_path):
    from mmpeft.apis import build_from_config
    from mmpeft.models import model_param_report
    report = model_param_report(build_from_config(config_path))
    trainable = (report['adapter_params'] + report['backbone_other_trainable']
                 + report['head_trainable'])
    backbone_trainable = (report['adapter_params'] +
                          report['backbone_other_trainable'])
    return trainable, 100.0 * backbone_trainable / report['backbone_params']


def fine_tune(name, work_root, threads):
    """Train and test one demo config; returns (metrics, training time)."""
    config = osp.join(DEMO, name)
    work_dir = osp.join(work_root, osp.splitext(name)[0])
    shutil.rmtree(work_dir, ignore_errors=True)
    checkpoint, seconds = train(config, work_dir, threads)
    return test(config, checkpoint, work_dir, threads), seconds


def fine_tuning_runs(args):
    """The segmentation study and the two other tasks, ``args.jobs`` runs
    at once (the longest first); returns their rows in table order."""
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    runs = {}
    if not args.skip_extra:
        runs.update({task: name for task, (name, _) in EXTRA_TASKS.items()})
    runs.update({method: SEG_METHODS[method] for method in args.methods})
    pool = ThreadPoolExecutor(args.jobs)
    try:
        futures = {
            key: pool.submit(fine_tune, name, args.work_dir, threads)
            for key, name in runs.items()
        }
        results = {key: future.result() for key, future in futures.items()}
    finally:
        # A failed run ends the demo: start no queued run.
        pool.shutdown(cancel_futures=True)
    seg_rows = []
    for method in args.methods:
        metrics, seconds = results[method]
        trainable, share = param_share(osp.join(DEMO, SEG_METHODS[method]))
        seg_rows.append((method, trainable, share, metrics['mIoU'], seconds))
    extra_rows = []
    for task, (_, keys) in EXTRA_TASKS.items():
        if task in results:
            metrics, seconds = results[task]
            shown = ', '.join(f'{k} {metrics[k]:.3f}' for k in keys
                              if k in metrics)
            extra_rows.append((task, shown, seconds))
    return seg_rows, extra_rows


def results_markdown(seg_rows, extra_rows, stage_seconds):
    lines = [
        '# mmpeft demo results', '',
        'Target task: synthetic segmentation (6 classes), tiny Swin + '
        'UPerNet, 64x64, all methods from the same source-pretrained '
        'backbone.', '',
        '| method | trainable params (backbone part, % of backbone) | '
        'mIoU | training time (s) |', '| --- | --- | --- | --- |'
    ]
    for method, trainable, share, miou, seconds in seg_rows:
        lines.append(f'| {method} | {trainable:,} ({share:.2f}%) | '
                     f'{miou:.2f} | {seconds:.0f} |')
    if extra_rows:
        lines += ['', '| task | metrics | training time (s) |',
                  '| --- | --- | --- |']
        lines += [f'| {t} | {m} | {s:.0f} |' for t, m, s in extra_rows]
    lines += ['', '| stage | wall time (s) |', '| --- | --- |']
    lines += [f'| {k} | {v:.0f} |' for k, v in stage_seconds.items()]
    return '\n'.join(lines) + '\n'


def main():
    args = parse_args()
    os.chdir(ROOT)
    stages = {}
    start = time.time()
    from mmpeft.datasets import generate_demo_data
    generate_demo_data(args.data)
    stages['data'] = time.time() - start
    start = time.time()
    configs = [SEG_METHODS[method] for method in args.methods]
    if not args.skip_extra:
        configs += [name for name, _ in EXTRA_TASKS.values()]
    for backbone in sorted({backbone_of(name) for name in configs}):
        pretrain(args, backbone)
    stages['pretraining (0 = reused)'] = time.time() - start
    start = time.time()
    seg_rows, extra_rows = fine_tuning_runs(args)
    stages[f'fine-tuning runs ({args.jobs} at once)'] = time.time() - start
    stages['total'] = sum(stages.values())
    report = results_markdown(seg_rows, extra_rows, stages)
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(report)
    print(report)


if __name__ == '__main__':
    main()
