"""Training runs of the demo through tools/train.py, a few at a time.

Each run is a subprocess (the path real experiments take) whose training
ends with one validation; its metrics and loss curve are read back from
mmengine's ``vis_data/scalars.json``. Tiny models use a second thread
poorly, so on a 2-core machine two one-thread runs side by side finish
sooner than two-thread runs in turn.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple


class RunFailed(RuntimeError):
    """A tool exited non-zero; the message names it, its log and its end."""


@dataclass
class Run:
    """One training run: ``label`` (a method or task), its seed, config,
    work folder and ``--cfg-options``."""
    label: str
    seed: int
    config: str
    work_dir: str
    options: List[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: Dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f'{self.label} (seed {self.seed})'


def run_tool(root: str, log_file: str, threads: int,
             *args: str) -> float:
    """Run a tools/ script with ``threads`` intra-op threads, its output in
    ``log_file``; returns the wall time, raises RunFailed on failure."""
    command = [sys.executable, *args]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    os.makedirs(osp.dirname(log_file), exist_ok=True)
    start = time.time()
    with open(log_file, 'w') as log:
        log.write('$ ' + ' '.join(command) + '\n')
        log.flush()
        result = subprocess.run(command, cwd=root, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        with open(log_file) as log:
            tail = log.read()[-3000:]
        raise RunFailed(f'{args[0]} failed (exit {result.returncode}), see '
                        f'{log_file}:\n{tail}')
    return time.time() - start


def _scalars(work_dir: str) -> List[dict]:
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise RunFailed(f'{work_dir}: no */vis_data/scalars.json written')
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def final_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the last validation of a finished run."""
    validations = [r for r in _scalars(work_dir) if 'loss' not in r]
    if not validations:
        raise RunFailed(f'{work_dir}: the run logged no validation')
    return {k: v for k, v in validations[-1].items() if k != 'step'}


def loss_curve(work_dir: str) -> Tuple[List[int], List[float]]:
    """(iterations, total loss) as logged during training."""
    rows = [r for r in _scalars(work_dir) if 'loss' in r]
    return [r['step'] for r in rows], [r['loss'] for r in rows]


def train(root: str, run: Run, threads: int) -> Run:
    """tools/train.py on a fresh work folder; fills seconds and metrics."""
    shutil.rmtree(osp.join(root, run.work_dir), ignore_errors=True)
    options = [f'randomness.seed={run.seed}', *run.options]
    run.seconds = run_tool(root, osp.join(root, run.work_dir, 'train.log'),
                           threads, 'tools/train.py', run.config,
                           '--work-dir', run.work_dir, '--cfg-options',
                           *options)
    run.metrics = final_metrics(osp.join(root, run.work_dir))
    return run


def _clock(seconds: float) -> str:
    return f'{int(seconds) // 60}:{int(seconds) % 60:02d}'


def run_all(root: str, runs: Sequence[Run], jobs: int,
            describe: Callable[[Run], str],
            log: Callable[[str], None] = print) -> List[Run]:
    """Train every run, ``jobs`` at a time with an equal share of the
    cores each (the first ones first). One line per finished run with the
    elapsed and the estimated remaining time. The first failure cancels the
    queued runs and is raised."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    start = time.time()
    done: List[Run] = []
    with ThreadPoolExecutor(jobs) as pool:
        pending = {pool.submit(train, root, run, threads) for run in runs}
        try:
            while pending:
                finished, pending = wait(pending,
                                         return_when=FIRST_COMPLETED)
                for future in finished:
                    run = future.result()
                    done.append(run)
                    elapsed = time.time() - start
                    left = elapsed / len(done) * (len(runs) - len(done))
                    log(f'[{len(done)}/{len(runs)}] {run.name}: '
                        f'{describe(run)}, {run.seconds:.0f} s | elapsed '
                        f'{_clock(elapsed)}, about {_clock(left)} left')
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return list(runs)


def latest_checkpoint(root: str, work_dir: str) -> Optional[str]:
    pointer = osp.join(root, work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip() or None
