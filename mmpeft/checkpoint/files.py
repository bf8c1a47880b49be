"""What every checkpoint reader and writer shares: the error naming an
unusable file, and atomic writes."""
import os
import os.path as osp
import tempfile
from typing import BinaryIO, Callable

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, with a message naming the file."""


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into a temporary file in the same folder, then
    rename: an interrupted save never leaves a truncated file under
    ``path``."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_save(obj, path: str) -> None:
    """torch.save, atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))
