"""A local file backend that never leaves a truncated or missing checkpoint.

Select it for checkpoints with
``default_hooks.checkpoint.backend_args=dict(backend='atomic_local')``.

- ``put`` writes to a temporary file in the same folder, flushes it to disk
  and renames it over the target, so a process killed mid-save leaves the
  previous file (and the ``last_checkpoint`` pointer, written after the
  save) intact.
- mmengine's CheckpointHook deletes the oldest checkpoint (``max_keep_ckpts``)
  *before* writing the new one; with ``max_keep_ckpts=1`` a crash during the
  save would leave nothing. Removals of ``.pth`` files are therefore deferred
  until the next checkpoint has been written completely, and so is the
  clean-up of partial files left by a killed save.
"""
import os
import os.path as osp
import tempfile
from typing import List, Union

from mmengine.fileio import LocalBackend, register_backend

TMP_PREFIX = '.tmp-'


class AtomicLocalBackend(LocalBackend):
    # Shared by every instance: the hook and the saving function each get
    # their own backend object.
    _pending_removals: List[str] = []

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX,
                                   suffix=f'-{osp.basename(filepath)}.part')
        try:
            with os.fdopen(fd, 'wb') as f:
                self._write(f, obj, filepath)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        self._flush_removals(keep=filepath)
        self._remove_leftovers(folder)

    @staticmethod
    def _write(f, obj: bytes, filepath: str) -> None:
        f.write(obj)

    def remove(self, filepath: Union[str, os.PathLike]) -> None:
        if str(filepath).endswith('.pth'):
            self._pending_removals.append(str(filepath))
        else:
            super().remove(filepath)

    @staticmethod
    def _remove_leftovers(folder: str) -> None:
        """Partial files of saves that were killed (SIGKILL leaves them)."""
        for name in os.listdir(folder):
            if name.startswith(TMP_PREFIX) and name.endswith('.part'):
                os.remove(osp.join(folder, name))

    def _flush_removals(self, keep: str) -> None:
        pending = AtomicLocalBackend._pending_removals
        while pending:
            path = pending.pop()
            if path != keep and osp.isfile(path):
                os.remove(path)


register_backend('atomic_local', AtomicLocalBackend)
