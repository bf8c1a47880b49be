"""Statistics and results.md of the demo study.

Each method's mIoU is summarised over its seeds as mean and sample
standard deviation (n - 1). A claim "A above B by more than two standard
deviations" holds when mean(A) - mean(B) > 2 * sqrt(std(A)^2 + std(B)^2):
the standard deviation of the difference of one run of each, so a gap of
that size is not what reseeding alone produces.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

FULL, FROZEN = 'full fine-tuning', 'frozen backbone'
ADAPTERS = ('AdaptFormer', 'Convpass', 'iConFormer')


@dataclass
class MethodResult:
    method: str
    trainable: int          # all trainable parameters
    share: float            # trainable backbone part, % of the backbone
    values: List[float]     # the metric of each seed
    seconds: float          # mean training time

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def summarise(runs, shares: Dict[str, Tuple[int, float]],
              metric: str = 'mIoU') -> List[MethodResult]:
    """One MethodResult per label of ``runs``, in their first order."""
    by_method: Dict[str, list] = {}
    for run in runs:
        by_method.setdefault(run.label, []).append(run)
    return [
        MethodResult(method, *shares[method],
                     [r.metrics[metric] for r in group],
                     statistics.fmean(r.seconds for r in group))
        for method, group in by_method.items()
    ]


def _margin(a: MethodResult, b: MethodResult) -> float:
    return 2 * math.hypot(a.std, b.std)


def claims(results: Sequence[MethodResult]) -> List[Tuple[str, bool]]:
    """The study's claims that its methods allow checking, each with
    whether this run supports it (two seeds at least for the margins)."""
    by = {r.method: r for r in results}
    found = []
    if FROZEN in by:
        frozen = by[FROZEN]
        for name in ADAPTERS + (FULL, ):
            if name in by:
                a = by[name]
                found.append((
                    f'{name} above the frozen backbone by more than two '
                    f'standard deviations: {a.mean - frozen.mean:+.2f} vs '
                    f'{_margin(a, frozen):.2f}',
                    a.mean - frozen.mean > _margin(a, frozen)
                    and len(a.values) > 1))
    if FULL in by and 'iConFormer' in by:
        gap = by['iConFormer'].mean - by[FULL].mean
        found.append((f'iConFormer within 2 points of full fine-tuning or '
                      f'above it: {gap:+.2f}', gap >= -2.0))
    return found


def results_markdown(task: str, seeds: Sequence[int],
                     results: Sequence[MethodResult],
                     extra_rows: Sequence[Tuple[str, str, float]],
                     stage_seconds: Dict[str, float],
                     figures: Dict[str, str],
                     notes: Sequence[str] = ()) -> str:
    seed_list = ', '.join(str(s) for s in seeds)
    lines = [
        '# mmpeft demo results', '', task, '',
        f'Seeds: {seed_list}; mIoU as mean +- sample std over the seeds.',
        '',
        '| method | trainable params (backbone part, % of backbone) | '
        'mIoU (mean +- std) | per seed | training time (s, mean) |',
        '| --- | --- | --- | --- | --- |'
    ]
    for r in results:
        per_seed = ', '.join(f'{v:.2f}' for v in r.values)
        lines.append(f'| {r.method} | {r.trainable:,} ({r.share:.2f}%) | '
                     f'{r.mean:.2f} +- {r.std:.2f} | {per_seed} | '
                     f'{r.seconds:.0f} |')
    found = claims(results)
    if found:
        lines += ['', '## Claims checked', '']
        lines += [f'- [{"x" if holds else " "}] {text}'
                  for text, holds in found]
    if extra_rows:
        lines += ['', '## Other tasks', '',
                  '| task | metrics | training time (s) |',
                  '| --- | --- | --- |']
        lines += [f'| {t} | {m} | {s:.0f} |' for t, m, s in extra_rows]
    if figures:
        lines += ['', '## Figures', '']
        lines += [f'- [{title}]({path})' for title, path in figures.items()]
        lines += [''] + [f'![{title}]({path})'
                         for title, path in figures.items()]
    lines += ['', '## Wall time', '', '| stage | wall time (s) |',
              '| --- | --- |']
    lines += [f'| {k} | {v:.0f} |' for k, v in stage_seconds.items()]
    if notes:
        lines += [''] + list(notes)
    return '\n'.join(lines) + '\n'
