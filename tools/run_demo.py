"""The main job on the embedded demo data (``make demo``).

1. data: the synthetic datasets in the real formats (data/demo, reused when
   unchanged).
2. pretrained backbone: the tiny Swin pretrained on the source task ships
   in weights/demo (its sha256 is checked); ``--pretrain`` trains it again
   through tools/train.py. The tiny ViT of ``--methods all`` is pretrained
   on first use and cached.
3. the study: every method of ``--methods`` with every seed of ``--seeds``
   on the target task, from the same pretrained backbone, through
   tools/train.py (each training ends with one validation), ``--jobs`` runs
   at a time; one line per finished run with elapsed and remaining time.
4. the other tasks: Mask R-CNN (COCO format) and depth (NYU-v2 layout) with
   iConFormer, in the same queue.
5. report: tools/test.py on iConFormer's adapter-only checkpoint, the
   figures (results.png, loss_curves.png, attention_rollout.png) and
   results.md with mean +- std per method and the claims checked.

``--smoke`` runs every stage and task the same way on a few images with a
few iterations, pretraining included, in work_dirs/demo-smoke with
data/demo-smoke: what CI runs to guard this job.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmengine.config import Config  # noqa: E402

from mmpeft.demo import (PretrainedBackbone, Run,  # noqa: E402
                         check_shipped_weights, loss_curve,
                         pretrain_backbone, results_markdown, run_all,
                         summarise)
from mmpeft.demo.figures import (plot_loss_curves, plot_results,  # noqa: E402
                                 stack_images)
from mmpeft.demo.pretraining import SOURCE_HEADS  # noqa: E402
from mmpeft.demo.runs import RunFailed, latest_checkpoint, run_tool  # noqa: E402,E501

DEMO = osp.join('configs', 'demo')
BACKBONES = {
    'swin-t': PretrainedBackbone(
        'tiny Swin', osp.join(DEMO, 'pretrain_swin-t_upernet_demo-source-64x64.py'),
        osp.join('weights', 'demo', 'tiny-swin_upernet_demo-source-64x64.pth'),
        shipped=True),
    # Only VPT-deep (``--methods all``) needs a plain ViT.
    'vit-tiny': PretrainedBackbone(
        'tiny ViT', osp.join(DEMO, 'pretrain_vit-tiny_upernet_demo-source-64x64.py'),
        osp.join('work_dirs', 'demo', 'pretrain_vit-tiny_source.pth'),
        shipped=False),
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
    # iConFormer with the same authors' DTF kernel generator (issue 14)
    # and the gradient-bypass side path E3VA.
    'iConFormer (DTF kernels)':
    'iconformer-dtf_swin-t_upernet_demo-target-64x64.py',
    'E3VA': 'e3va_swin-t_upernet_demo-target-64x64.py',
    'frozen tiny ViT': 'frozen_vit-tiny_upernet_demo-target-64x64.py',
    'VPT-deep (tiny ViT)': 'vpt_vit-tiny_upernet_demo-target-64x64.py',
}
# The default study: the two baselines and the three core adapters.
CORE_METHODS = list(SEG_METHODS)[:5]
EXTRA_TASKS = {
    'instance segmentation (iConFormer)':
    ('iconformer_swin-t_mask-rcnn_demo-coco-target-64x64.py', 'coco',
     ['coco/bbox_mAP', 'coco/segm_mAP']),
    'depth (iConFormer)': ('iconformer_swin-t_vpd-head_demo-nyu-target-64x64.py',
                           'nyu', ['rmse', 'abs_rel', 'd1']),
}
DEFAULT_SEEDS = [0, 1, 2]
# --smoke: a few images and iterations; two seeds keep the statistics path.
SMOKE = dict(num_train=8, num_val=4, iters=2, seeds=[0, 1],
             work_dir=osp.join('work_dirs', 'demo-smoke'),
             data=osp.join('data', 'demo-smoke'))
ROLLOUT_IMAGES = 3
TASK = ('Target task: synthetic segmentation (6 classes: 3 shapes x 2 '
        'fills), tiny Swin + UPerNet, 64x64 images, every method from the '
        'same source-pretrained backbone and heads (new classifiers); see '
        'docs/demo.md.')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', help='default work_dirs/demo '
                        '(work_dirs/demo-smoke with --smoke)')
    parser.add_argument('--data', help='default data/demo '
                        '(data/demo-smoke with --smoke)')
    parser.add_argument(
        '--methods', nargs='+', default=CORE_METHODS,
        choices=list(SEG_METHODS) + ['all'], metavar='METHOD',
        help=f'study methods, or all; of {list(SEG_METHODS)} (default: '
        'the first five)')
    parser.add_argument('--seeds', nargs='+', type=int, metavar='SEED',
                        help=f'default {DEFAULT_SEEDS}')
    parser.add_argument('--skip-extra', action='store_true',
                        help='skip the instance-segmentation and depth runs')
    parser.add_argument('--pretrain', action='store_true',
                        help='pretrain the tiny Swin again instead of '
                        'using the shipped weights (and the tiny ViT '
                        'again instead of its cache)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='training runs at once (default 2)')
    parser.add_argument('--smoke', action='store_true',
                        help='every stage and task on a few images, a few '
                        'iterations each (CI)')
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        parser.error(f'--seeds must not repeat a seed, got {args.seeds}')
    if 'all' in args.methods:
        args.methods = list(SEG_METHODS)
    defaults = SMOKE if args.smoke else dict(
        seeds=DEFAULT_SEEDS, work_dir=osp.join('work_dirs', 'demo'),
        data=osp.join('data', 'demo'))
    for key in ('seeds', 'work_dir', 'data'):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    return args


def data_options(task: str, data: str):
    """--cfg-options pointing a demo config of ``task`` at ``data``."""
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    root = osp.join(data, dict(seg='seg_target', source='seg_source',
                               coco='coco_target', nyu='nyu_target')[task])
    options = [f'{loader}.dataset.data_root={root}' for loader in loaders]
    if task == 'coco':
        ann = osp.join(root, 'annotations', 'instances_val.json')
        options += [f'val_evaluator.ann_file={ann}',
                    f'test_evaluator.ann_file={ann}']
    return options


def smoke_options(iters: int):
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2']


def backbone_of(config_name: str) -> str:
    """The BACKBONES key of a demo config ('..._<backbone>_<head>_...')."""
    return config_name.split('_')[1]


def fingerprint(config_path: str, data_root: str) -> str:
    """What a cached (not shipped) pretrained backbone depends on."""
    cfg = Config.fromfile(osp.join(ROOT, config_path))
    with open(osp.join(ROOT, data_root, 'manifest.json')) as f:
        data_hash = json.load(f)['content_sha256']
    return hashlib.sha256((cfg.pretty_text + data_hash).encode()).hexdigest()


def pretrained_weights(args, key: str) -> str:
    """The weights file of backbone ``key`` that the runs load: the
    shipped one after its sha256 check, a cached one, or a new one."""
    backbone = BACKBONES[key]
    if backbone.shipped and not (args.pretrain or args.smoke):
        path = check_shipped_weights(ROOT, backbone)
        print(f'pretrained {backbone.name}: {path} (sha256 checked)')
        return path
    out = (osp.join(args.work_dir, f'pretrain_{key}_source.pth')
           if backbone.shipped or args.smoke else backbone.weights)
    stamp = fingerprint(backbone.config, osp.join(args.data, 'seg_source'))
    stamp_file = osp.join(ROOT, out + '.json')
    if not (args.pretrain or args.smoke) and osp.isfile(stamp_file):
        with open(stamp_file) as f:
            if json.load(f).get('fingerprint') == stamp:
                print(f'pretrained {backbone.name}: reusing {out}')
                return out
    print(f'pretraining the {backbone.name} on the source task ...',
          flush=True)
    options = data_options('source', args.data)
    if args.smoke:
        options += smoke_options(SMOKE['iters'])
    record = pretrain_backbone(ROOT, backbone,
                               osp.join(args.work_dir, f'pretrain_{key}'),
                               out, os.cpu_count() or 1, options)
    with open(stamp_file, 'w') as f:
        json.dump(dict(record, fingerprint=stamp), f, indent=2)
    print(f'pretrained {backbone.name}: {out} in {record["seconds"]} s, '
          f'source mIoU {record["metrics"].get("mIoU", float("nan")):.2f}')
    return out


def weights_options(config_name: str, weights: str, default: str):
    """--cfg-options pointing every module of a demo config that starts
    from the configured pretrained file (its backbone, and the heads of
    the seg configs) at ``weights``."""
    if weights == default:
        return []
    cfg = Config.fromfile(osp.join(ROOT, DEMO, config_name))
    heads = [prefix.rstrip('.') for prefix in SOURCE_HEADS]
    modules = ['backbone'] + [
        head for head in heads
        if ((cfg.model.get(head) or {}).get('init_cfg') or {}).get(
            'checkpoint') == default]
    return [f'model.{module}.init_cfg.checkpoint={weights}'
            for module in modules]


def make_runs(args, weights):
    """The study (seed-major, so a partial queue covers every method) and
    the other tasks (first: the longest runs)."""
    base = args.smoke and smoke_options(SMOKE['iters']) or []

    def options(name, task):
        key = backbone_of(name)
        cfg_default = BACKBONES[key].weights
        return (data_options(task, args.data) + base +
                weights_options(name, weights[key], cfg_default))

    runs = []
    if not args.skip_extra:
        for task, (name, data_task, _) in EXTRA_TASKS.items():
            runs.append(Run(task, args.seeds[0], osp.join(DEMO, name),
                            osp.join(args.work_dir, osp.splitext(name)[0]),
                            options(name, data_task)))
    for seed in args.seeds:
        for method in args.methods:
            name = SEG_METHODS[method]
            runs.append(Run(
                method, seed, osp.join(DEMO, name),
                osp.join(args.work_dir, osp.splitext(name)[0], f'seed{seed}'),
                options(name, 'seg')))
    return runs


def describe(run: Run) -> str:
    if run.label in EXTRA_TASKS:
        keys = EXTRA_TASKS[run.label][2]
        return ', '.join(f'{k} {run.metrics[k]:.3f}' for k in keys
                         if k in run.metrics)
    return f'mIoU {run.metrics["mIoU"]:.2f}'


def param_share(config_path: str):
    """(trainable parameters, trainable backbone part as % of it)."""
    from mmpeft.apis import build_from_config
    from mmpeft.models import model_param_report
    report = model_param_report(build_from_config(config_path))
    backbone = report['adapter_params'] + report['backbone_other_trainable']
    return (backbone + report['head_trainable'],
            100.0 * backbone / report['backbone_params'])


def retest(args, run: Run, weights: str) -> str:
    """tools/test.py on the run's adapter-only checkpoint: the saved file
    alone (plus the base weights) must give the run's validation mIoU."""
    checkpoint = latest_checkpoint(ROOT, run.work_dir)
    metrics_file = osp.join(run.work_dir, 'test_metrics.json')
    run_tool(ROOT, osp.join(ROOT, run.work_dir, 'test.log'),
             os.cpu_count() or 1, 'tools/test.py', run.config, checkpoint,
             '--work-dir', run.work_dir, '--dump-metrics', metrics_file,
             '--cfg-options', *run.options)
    with open(osp.join(ROOT, metrics_file)) as f:
        tested = json.load(f)['mIoU']
    return (f'tools/test.py on the adapter-only checkpoint of {run.name} '
            f'(`{checkpoint}`, base weights `{weights}`): mIoU '
            f'{tested:.2f}; its training-time validation: '
            f'{run.metrics["mIoU"]:.2f}.')


def rollout_figure(args, frozen_weights: str, run: Run) -> str:
    """Attention rollout, frozen vs the iConFormer run, on validation
    images: one row per image (image | frozen | iConFormer)."""
    checkpoint = latest_checkpoint(ROOT, run.work_dir)
    images = osp.join(args.data, 'seg_target', 'images', 'validation')
    rows = []
    for i, image in enumerate(sorted(os.listdir(osp.join(ROOT, images)))
                              [:ROLLOUT_IMAGES]):
        out = osp.join(args.work_dir, 'figures', f'rollout_{i}.png')
        os.makedirs(osp.join(ROOT, osp.dirname(out)), exist_ok=True)
        run_tool(ROOT, osp.join(ROOT, args.work_dir, 'figures',
                                f'rollout_{i}.log'), os.cpu_count() or 1,
                 'tools/analysis_tools/visualize_attention.py',
                 osp.join(images, image), run.config,
                 '--base-checkpoint', frozen_weights, '--checkpoint',
                 checkpoint, '--size', '64', '--out', out)
        rows.append(osp.join(ROOT, out))
    return stack_images(rows, osp.join(ROOT, args.work_dir,
                                       'attention_rollout.png'))


def figures_and_checks(args, study, weights):
    """results.png, loss_curves.png, attention_rollout.png, the retest."""
    figures, notes = {}, []
    work = osp.join(ROOT, args.work_dir)
    figures['mIoU vs trainable share (results.png)'] = osp.relpath(
        plot_results(study['results'], osp.join(work, 'results.png'),
                     title='demo target task: mIoU vs trainable share'),
        work)
    curves = {}
    for run in study['runs']:
        curves.setdefault(run.label, []).append(
            loss_curve(osp.join(ROOT, run.work_dir)))
    figures['training loss (loss_curves.png)'] = osp.relpath(
        plot_loss_curves(curves, osp.join(work, 'loss_curves.png')), work)
    by_label = {(r.label, r.seed): r for r in study['runs']}
    first = args.seeds[0]
    iconformer = by_label.get(('iConFormer', first))
    if iconformer is not None:
        notes.append(retest(args, iconformer, weights['swin-t']))
        figures['attention rollout: image | frozen | iConFormer '
                '(attention_rollout.png)'] = osp.relpath(
                    rollout_figure(args, weights['swin-t'], iconformer),
                    work)
    return figures, notes


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    stages, start = {}, time.time()
    from mmpeft.datasets import generate_demo_data
    sizes = (dict(num_train=SMOKE['num_train'], num_val=SMOKE['num_val'])
             if args.smoke else {})
    configs = [SEG_METHODS[m] for m in args.methods]
    datasets = ['seg_target']
    if not args.skip_extra:
        configs += [name for name, _, _ in EXTRA_TASKS.values()]
        datasets += ['coco_target', 'nyu_target']
    backbones = sorted({backbone_of(c) for c in configs})
    if args.pretrain or args.smoke or not all(BACKBONES[b].shipped
                                              for b in backbones):
        datasets.append('seg_source')
    generate_demo_data(args.data, datasets=datasets,
                       workers=os.cpu_count() or 1, log=print, **sizes)
    stages['data'] = time.time() - start

    start = time.time()
    weights = {key: pretrained_weights(args, key) for key in backbones}
    stages['pretrained backbone'] = time.time() - start

    start = time.time()
    runs = make_runs(args, weights)
    print(f'{len(runs)} training runs, {args.jobs} at a time', flush=True)
    run_all(ROOT, runs, args.jobs, describe,
            log=lambda line: print(line, flush=True))
    stages[f'training runs ({args.jobs} at once)'] = time.time() - start

    start = time.time()
    study_runs = [r for r in runs if r.label in SEG_METHODS]
    shares = {m: param_share(osp.join(DEMO, SEG_METHODS[m]))
              for m in args.methods}
    study = dict(runs=study_runs, results=summarise(study_runs, shares))
    extra_rows = [(r.label, describe(r), r.seconds) for r in runs
                  if r.label in EXTRA_TASKS]
    figures, notes = figures_and_checks(args, study, weights)
    stages['report and figures'] = time.time() - start
    stages['total'] = sum(stages.values())

    task = TASK + (' SMOKE RUN: a few images and iterations, the numbers '
                   'mean nothing.' if args.smoke else '')
    report = results_markdown(task, args.seeds, study['results'], extra_rows,
                              stages, figures, notes)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(report)
    print(report)
    missing = [m for m in args.methods
               if m not in {r.method for r in study['results']}]
    if missing:
        sys.exit(f'results.md lacks the rows of {missing}')


if __name__ == '__main__':
    try:
        main()
    except RunFailed as error:
        sys.exit(f'demo failed: {error}')
