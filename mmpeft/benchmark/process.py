"""One fresh process per method, so that peak memory counts from before
each model is built and rows are comparable."""
import json
import os
import subprocess
import sys
import tempfile

from .measure import run_method


def _forked_worker(cfg, args, name, out):
    try:
        result = run_method(cfg, args, name)
        with open(out, 'w') as f:
            json.dump(result, f)
    except BaseException:
        import traceback
        with open(out + '.err', 'w') as f:
            f.write(traceback.format_exc())
        raise


def _read_result(out: str, name: str, exit_code, error: str) -> dict:
    if exit_code != 0 or not os.path.exists(out):
        if os.path.exists(out + '.err'):
            with open(out + '.err') as f:
                error = f.read()
        raise RuntimeError(f'method {name!r} failed (exit code '
                           f'{exit_code}):\n{error[-4000:]}')
    with open(out) as f:
        return json.load(f)


def run_isolated(cfg, args, argv, name: str, script: str) -> dict:
    """``name`` measured in a fresh process: forked from this one where the
    platform allows (no second import of the OpenMMLab stack), else
    ``script`` (the command-line driver) run with ``--worker``."""
    import multiprocessing
    if 'fork' not in multiprocessing.get_all_start_methods():
        return run_in_subprocess(args, argv, name, script)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'result.json')
        proc = multiprocessing.get_context('fork').Process(
            target=_forked_worker, args=(cfg, args, name, out))
        proc.start()
        proc.join()
        return _read_result(out, name, proc.exitcode, '')


def run_in_subprocess(args, argv, name: str, script: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'result.json')
        cmd = [sys.executable, script] + list(argv) + [
            '--worker', name, '--worker-out', out, '--isolation', 'process',
            '--inference', args.inference]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        return _read_result(out, name, proc.returncode, proc.stderr)


def write_worker_result(cfg, args) -> None:
    """The ``--worker`` side of :func:`run_in_subprocess`."""
    result = run_method(cfg, args, args.worker)
    with open(args.worker_out, 'w') as f:
        json.dump(result, f)
