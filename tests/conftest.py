import os
import sys

import pytest
import torch

# Tests import their helpers (tiny_models) from this folder; mmseg ships a
# top-level 'tests' package, so this folder is deliberately not a package.
sys.path.insert(0, os.path.dirname(__file__))

# Tiny models spend more time synchronising intra-op threads than computing
# (a tiny Swin forward: ~1 s with 2 threads on a busy 2-core machine, ~10 ms
# with 1).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def trained(tmp_path):
    """The toy PEFT model trained 4 iterations with adapter-only saving."""
    from toy_runner import train_toy
    return train_toy(tmp_path)
