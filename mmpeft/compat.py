"""Fixes applied when mmpeft is imported, for the pinned stack on current
PyTorch.

PyTorch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default,
and mmengine 0.10.7 does not pass ``weights_only``, so resuming, ``load_from``
and ``tools/test.py`` fail on mmengine's own training checkpoints
("Unsupported global: ...HistoryBuffer"). Turning weights-only loading off
would let a checkpoint run arbitrary code; instead we allowlist exactly the
types mmengine writes into its checkpoints: its message hub's history
buffers, which hold numpy arrays and scalars, and their statistics methods.

Python pickles those methods as ``getattr(HistoryBuffer, 'min')``. Allowing
the real ``getattr`` would open every attribute of every allowlisted object
to a crafted checkpoint (and from there, code execution), so the unpickler
gets a stand-in under that name that resolves HistoryBuffer's statistics
methods and refuses anything else.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals():
    """numpy types that a pickled array or scalar of HistoryBuffer needs."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(t)) for t in (np.float64, np.float32, np.int64,
                                    np.int32, np.bool_)
    ]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def history_buffer_method(owner, name: str):
    """``getattr`` as mmengine checkpoints use it, and nothing more."""
    allowed = {'min', 'max', 'current', 'mean'}
    allowed.update(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); weights-only '
        f'loading allows only the statistics methods of HistoryBuffer')


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer, *_numpy_globals(),
    (history_buffer_method, 'builtins.getattr')
]


def allow_mmengine_checkpoints() -> None:
    """Let the weights-only unpickler accept mmengine training checkpoints."""
    torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)


allow_mmengine_checkpoints()
