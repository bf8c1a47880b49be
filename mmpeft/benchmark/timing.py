"""Clocks, peak memory and the summaries of timed repetitions."""
import logging
import statistics
import time
from contextlib import contextmanager

import torch
from mmengine.logging import MMLogger

MB = 2**20
TIMED = ('train_step_s', 'infer_b1_ms', 'infer_bN_ms', 'adapters_train_ms',
         'adapters_infer_b1_ms', 'adapters_infer_bN_ms')


def cpu_key(key: str) -> str:
    """'train_step_s' -> 'train_step_cpu_s': the CPU-time twin of a key."""
    stem, unit = key.rsplit('_', 1)
    return f'{stem}_cpu_{unit}'


ALL_TIMED = TIMED + tuple(cpu_key(k) for k in TIMED)


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def proc_status(field: str) -> int:
    """VmRSS / VmHWM of this process in bytes (0 where unavailable)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Make VmHWM the current RSS (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def summary(samples):
    samples = list(samples)
    if not samples:
        return None
    median = statistics.median(samples)
    return dict(
        median=median, min=min(samples), max=max(samples), n=len(samples),
        spread=(max(samples) - min(samples)) / median if median else 0.0)


def put(result: dict, key: str, samples, scale: float = 1.0) -> None:
    """Store wall-clock and CPU-time samples ((wall, cpu) pairs)."""
    for name, index in ((key, 0), (cpu_key(key), 1)):
        values = [scale * pair[index] for pair in samples]
        result[name + '_samples'] = values
        result[name] = summary(values)


class Clock:
    """Wall-clock time and this process's CPU time (all its threads): on a
    shared machine the CPU time of a single-threaded run does not count the
    time spent waiting for a core."""

    def __init__(self, device: str):
        self.device = device

    def __enter__(self):
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.elapsed = (time.perf_counter() - self.wall,
                        time.process_time() - self.cpu)
        return False


def time_calls(fn, warmup: int, iters: int, device: str):
    times = []
    for _ in range(warmup + iters):
        with Clock(device) as clock:
            fn()
        times.append(clock.elapsed)
    return times[warmup:]


@contextmanager
def count_warnings():
    """Counts WARNING records the current logger lets through."""
    logger = MMLogger.get_current_instance()

    class Counter(logging.Handler):

        def __init__(self):
            super().__init__(logging.WARNING)
            self.n = 0

        def emit(self, record):
            self.n += 1

    counter = Counter()
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
