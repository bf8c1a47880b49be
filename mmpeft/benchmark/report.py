"""Ratios between the rows, the pooled rounds and the Markdown table."""
import statistics

from .measure import needs_inference
from .timing import ALL_TIMED, cpu_key, summary


def median_of(row, key):
    value = row.get(key)
    if isinstance(value, dict):
        return value['median']
    return value


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def pool_rounds(results):
    """One row from the per-round results of a method."""
    if len(results) == 1:
        return results[0]
    row = dict(results[0])
    row['rounds'] = results
    for key in ALL_TIMED:
        pooled = [s for r in results for s in r.get(key + '_samples', [])]
        if pooled:
            row[key + '_samples'] = pooled
            row[key] = summary(pooled)
    for key in ('train_peak_mb', 'train_step_extra_mb'):
        values = [r[key] for r in results if r.get(key) is not None]
        if values:
            row[key] = statistics.median(values)
            row[key + '_rounds'] = values
    return row


def _references(rows: dict):
    """full, floor, head and AdaptFormer in every block (fp32, no cp)."""
    full = rows.get('full', {})
    floor = rows.get('floor', {})
    head = rows.get('head', rows.get('frozen', {}))
    adaptformers = [
        r for r in rows.values()
        if r.get('adapter') == 'AdaptFormer' and r.get('adapter_blocks') ==
        'all' and not r.get('frozen_dtype') and not r.get('with_cp')
    ]
    return full, floor, head, adaptformers[0] if adaptformers else {}


def add_ratios(rows: dict) -> None:
    """Ratios to full fine-tuning, the floor, head only, the plain model (the
    full row at inference) and AdaptFormer in every block; for wall-clock
    and CPU-time keys alike."""
    full, floor, head, adaptformer = _references(rows)
    for row in rows.values():
        r = {}
        for key in ('train_step_s', cpu_key('train_step_s'),
                    'train_peak_mb'):
            for ref_name, ref in (('full', full), ('floor', floor),
                                  ('head', head)):
                r[f'{key}_vs_{ref_name}'] = ratio(median_of(row, key),
                                                  median_of(ref, key))
        for key in ('infer_b1_ms', 'infer_bN_ms'):
            for k in (key, cpu_key(key)):
                r[f'{k}_vs_plain'] = ratio(median_of(row, k),
                                           median_of(full, k))
        for key in ('gflops', 'backbone_gflops', 'params'):
            r[f'{key}_vs_plain'] = ratio(row.get(key), full.get(key))
        for key in ('adapters_train_ms', 'adapters_infer_b1_ms',
                    'adapters_infer_bN_ms'):
            for k in (key, cpu_key(key)):
                r[f'{k}_vs_adaptformer'] = ratio(median_of(row, k),
                                                 median_of(adaptformer, k))
        # Where training time lies between head only (0) and the floor (1):
        # how much of the back-propagation through the backbone remains.
        for key in ('train_step_s', cpu_key('train_step_s')):
            t, lo, hi = (median_of(row, key), median_of(head, key),
                         median_of(floor, key))
            r[f'{key}_head_to_floor'] = (
                (t - lo) / (hi - lo)
                if None not in (t, lo, hi) and hi != lo else None)
        row['ratios'] = r


def fmt(value, spec='.2f', none='-'):
    if value is None:
        return none
    return format(value, spec)


HEADER = ['method', 'trainable', 'GFLOPs', 'train s/step', 'x full',
          'x floor', 'x head', 'peak MB', 'x full', 'x floor', 'x head',
          'autograd blocks', 'infer b1 ms', 'x plain', 'infer b{nb} ms',
          'x plain', 'adapters train ms', 'adapters b{nb} ms',
          'adapters x AdaptFormer (train, infer)']


def _table_line(row: dict, k, timed) -> list:
    r = row['ratios']
    same = '-' if needs_inference(row) else '= full'
    adapters = (f"{fmt(r[k('adapters_train_ms') + '_vs_adaptformer'])}, "
                f"{fmt(r[k('adapters_infer_bN_ms') + '_vs_adaptformer'])}"
                if row.get('adapters_train_ms') else '-')
    return [
        row['method'],
        f"{row['trainable_params']:,}",
        fmt(row.get('gflops'), '.4g', same),
        timed(row, 'train_step_s', '.3f', '-'),
        fmt(r[k('train_step_s') + '_vs_full']),
        fmt(r[k('train_step_s') + '_vs_floor']),
        fmt(r[k('train_step_s') + '_vs_head']),
        fmt(row.get('train_peak_mb'), '.0f'),
        fmt(r['train_peak_mb_vs_full']),
        fmt(r['train_peak_mb_vs_floor']),
        fmt(r['train_peak_mb_vs_head']),
        f"{row.get('blocks_with_autograd', '-')}/{row.get('blocks', '-')}",
        timed(row, 'infer_b1_ms', '.1f', same),
        fmt(r[k('infer_b1_ms') + '_vs_plain'], '.3f', same),
        timed(row, 'infer_bN_ms', '.1f', same),
        fmt(r[k('infer_bN_ms') + '_vs_plain'], '.3f', same),
        timed(row, 'adapters_train_ms', '.1f', '-'),
        timed(row, 'adapters_infer_bN_ms', '.1f', '-'),
        adapters,
    ]


def _notes(report: dict, clock: str) -> list:
    settings, machine = report['settings'], report['machine']
    clock_desc = ('wall clock' if clock == 'wall' else
                  'CPU time of the process, all threads')
    measure = next((row['memory_measure'] for row in report['methods'].values()
                    if row.get('memory_measure')), '-')
    return [
        f"config: {report['config']}",
        f"device: {settings['device']} ({machine['device_name']}), threads "
        f"{settings['threads']}, training batch {settings['batch']}, "
        f"inference batch 1 and {settings['infer_batch']}, shape "
        f"{settings['shape'][0]}x{settings['shape'][1]}, amp "
        f"{settings['amp']}, isolation {settings['isolation']}, inference "
        f"{settings.get('inference')}, rounds "
        f"{settings['rounds']}, warm-up {settings['warmup']}, timed "
        f"{settings['iters']} steps / {settings['infer_iters']} inference "
        f"runs; load average at the end {machine.get('load_average')}",
        f'times: {clock_desc}, medians; +-: half the (max - min) spread of '
        'the timed repetitions. x plain: the full row, i.e. the upstream '
        f'model without adapters. peak MB: {measure}',
    ]


def format_table(report: dict, clock: str = 'wall') -> str:
    """A Markdown table; times from the wall clock or CPU time."""
    nb = report['settings']['infer_batch']

    def k(key):
        return key if clock == 'wall' else cpu_key(key)

    def timed(row, key, spec, none):
        value = row.get(k(key))
        if not value:
            return none
        return (f"{format(value['median'], spec)} "
                f"+-{50 * value['spread']:.0f}%")

    header = [h.format(nb=nb) for h in HEADER]
    lines = [_table_line(row, k, timed)
             for row in report['methods'].values()]
    widths = [max(len(h), *(len(line[i]) for line in lines))
              for i, h in enumerate(header)]
    out = ['| ' + ' | '.join(h.ljust(w) for h, w in zip(header, widths)) +
           ' |', '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    for line in lines:
        out.append('| ' + ' | '.join(c.ljust(w)
                                     for c, w in zip(line, widths)) + ' |')
    return '\n'.join(out + [''] + _notes(report, clock))


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or 'cpu'
