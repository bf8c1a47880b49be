"""Create the synthetic demo datasets on demand, idempotently.

:func:`generate_demo_data` writes each dataset ``<task>_<variant>`` (for
example ``seg_source``) to ``<out>/<task>_<variant>/``. A dataset is first
written to a hidden temporary folder next to it and renamed into place only
when complete, with a ``manifest.json`` recording the arguments and a hash
of every file. A later call with the same arguments re-hashes the files and
reuses them when they match; other arguments (or ``force=True``) rebuild.
"""
import concurrent.futures
import contextlib
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, Iterable, List, Optional

from .formats import WRITERS
from .synthetic import MAX_SIZE, MIN_SIZE, VARIANTS, get_variant

GENERATOR_VERSION = 2


def _code_hash() -> str:
    """Hash of the rendering and writing code: data made by other code is
    never reused, even when nobody bumped GENERATOR_VERSION."""
    h = hashlib.sha256()
    for module in ('synthetic.py', 'formats.py'):
        with open(osp.join(osp.dirname(osp.abspath(__file__)), module),
                  'rb') as f:
            h.update(f.read())
    return h.hexdigest()[:16]


CODE_HASH = _code_hash()
MANIFEST = 'manifest.json'
DEFAULT_DATASETS = ('seg_source', 'seg_target', 'coco_target', 'nyu_target')
ALL_DATASETS = tuple(f'{task}_{variant}' for task in WRITERS
                     for variant in VARIANTS)
DEFAULTS = dict(seed=0, size=64, num_train=None, num_val=128)
# Training images when num_train is None: pretraining on the source task
# needs more images than fine-tuning (with 256, a tiny model memorises the
# source objects instead of learning their shapes).
DEFAULT_NUM_TRAIN = dict(source=2048, target=512)


def _check_int(name: str, value, minimum: int, maximum: Optional[int] = None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an integer, got {value!r}')
    if value < minimum or (maximum is not None and value > maximum):
        bound = (f'between {minimum} and {maximum}'
                 if maximum is not None else f'>= {minimum}')
        raise ValueError(f'{name} must be {bound}, got {value}')


def check_args(seed: int, size: int, num_train: int, num_val: int,
               datasets: Iterable[str], workers: int = 1) -> List[str]:
    """Validate the arguments; the error names the bad one."""
    _check_int('workers', workers, 1, 64)
    _check_int('seed', seed, 0, 2**32 - 1)
    _check_int('size', size, MIN_SIZE, MAX_SIZE)
    if num_train is not None:
        _check_int('num_train', num_train, 1)
    _check_int('num_val', num_val, 1)
    datasets = list(datasets)
    if not datasets:
        raise ValueError('datasets must name at least one dataset')
    for name in datasets:
        if name not in ALL_DATASETS:
            raise ValueError(f'datasets: unknown dataset {name!r}; choose '
                             f'from {", ".join(ALL_DATASETS)}')
    return list(dict.fromkeys(datasets))


def _file_hash(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def content_hash(file_hashes: Dict[str, str]) -> str:
    """One hash over (relative path, file hash) pairs in sorted order."""
    h = hashlib.sha256()
    for rel in sorted(file_hashes):
        h.update(f'{rel}\0{file_hashes[rel]}\n'.encode())
    return h.hexdigest()


def hash_folder(root: str) -> Dict[str, str]:
    """sha256 of every file under root except the manifest, by POSIX path."""
    hashes = {}
    for dirpath, _, files in os.walk(root):
        for fname in files:
            path = osp.join(dirpath, fname)
            rel = osp.relpath(path, root).replace(os.sep, '/')
            if rel != MANIFEST:
                hashes[rel] = _file_hash(path)
    return hashes


def dataset_args(name: str, seed: int, size: int, num_train: int,
                 num_val: int) -> dict:
    task, variant = name.split('_', 1)
    return dict(generator_version=GENERATOR_VERSION, code=CODE_HASH,
                dataset=name, task=task, variant=variant, seed=seed,
                size=size, num_train=num_train, num_val=num_val)


def read_manifest(root: str) -> Optional[dict]:
    try:
        with open(osp.join(root, MANIFEST)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_valid(root: str, args: dict) -> bool:
    """True if root holds a complete dataset made with exactly these
    arguments and its files still hash to the recorded value."""
    manifest = read_manifest(root)
    if not manifest or manifest.get('args') != args:
        return False
    hashes = hash_folder(root)
    return (len(hashes) == manifest.get('num_files')
            and content_hash(hashes) == manifest.get('content_sha256'))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(out: str, name: str):
    """Remove temporary folders of this dataset left by dead processes."""
    prefix = f'.{name}.'
    for entry in os.listdir(out):
        if not entry.startswith(prefix):
            continue
        pid = entry.rsplit('-', 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(osp.join(out, entry), ignore_errors=True)


def build_dataset(out: str, name: str, seed: int, size: int, num_train: int,
                  num_val: int, pool=None) -> dict:
    """Write one dataset to ``out/name`` atomically; returns its manifest."""
    args = dataset_args(name, seed, size, num_train, num_val)
    final = osp.join(out, name)
    tmp = osp.join(out, f'.{name}.tmp-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    hashes = {}

    def put(rel: str, data: bytes):
        path = osp.join(tmp, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
        hashes[rel] = hashlib.sha256(data).hexdigest()

    try:
        os.makedirs(tmp)
        summary = WRITERS[args['task']](put, name, args['variant'], seed,
                                        size, num_train, num_val, pool=pool)
        manifest = dict(
            args=args, classes=list(get_variant(args['variant']).classes),
            summary=summary, num_files=len(hashes),
            content_sha256=content_hash(hashes))
        with open(osp.join(tmp, MANIFEST), 'w') as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write('\n')
        old = None
        if osp.lexists(final):
            old = osp.join(out, f'.{name}.old-{os.getpid()}')
            shutil.rmtree(old, ignore_errors=True)
            os.rename(final, old)
        os.rename(tmp, final)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def generate_demo_data(out: str = 'data/demo',
                       seed: int = DEFAULTS['seed'],
                       size: int = DEFAULTS['size'],
                       num_train: Optional[int] = DEFAULTS['num_train'],
                       num_val: int = DEFAULTS['num_val'],
                       datasets: Iterable[str] = DEFAULT_DATASETS,
                       force: bool = False,
                       workers: int = 1,
                       log=None) -> Dict[str, dict]:
    """Create (or reuse) the demo datasets under ``out``.

    ``num_train`` None: DEFAULT_NUM_TRAIN of each dataset's variant.
    ``workers`` > 1 renders in that many processes (same bytes).
    Returns, per dataset name, ``dict(path, status, seconds, manifest)``
    with status ``'reused'`` or ``'generated'``.
    """
    datasets = check_args(seed, size, num_train, num_val, datasets, workers)
    os.makedirs(out, exist_ok=True)
    with contextlib.ExitStack() as stack:
        pool = None
        if workers > 1:
            pool = stack.enter_context(
                concurrent.futures.ProcessPoolExecutor(
                    workers, initializer=_worker_init))
        return _generate(out, seed, size, num_train, num_val, datasets,
                         force, pool, log)


def _worker_init():
    # a forked child must not use a thread pool inherited from its parent
    import cv2
    cv2.setNumThreads(1)


def _generate(out, seed, size, num_train, num_val, datasets, force, pool,
              log):
    results = {}
    requested = num_train
    for name in datasets:
        num_train = (requested if requested is not None else
                     DEFAULT_NUM_TRAIN[name.split('_', 1)[1]])
        start = time.perf_counter()
        root = osp.join(out, name)
        args = dataset_args(name, seed, size, num_train, num_val)
        _remove_stale(out, name)
        if not force and is_valid(root, args):
            status, manifest = 'reused', read_manifest(root)
        else:
            status = 'generated'
            manifest = build_dataset(out, name, seed, size, num_train,
                                     num_val, pool)
        seconds = time.perf_counter() - start
        results[name] = dict(path=root, status=status, seconds=seconds,
                             manifest=manifest)
        if log:
            log(f'{name}: {status} in {seconds:.1f} s '
                f'({manifest["num_files"]} files) -> {root}')
    return results
