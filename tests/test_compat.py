"""torch >= 2.6 with mmengine 0.10.7: training checkpoints resume and load
with weights-only unpickling still on."""
import pickle

import pytest
import torch
from mmengine.runner import Runner
from toy_runner import runner_cfg

import mmpeft  # noqa: F401 (applies the compatibility layer)


def test_train_save_resume_and_test(tmp_path):
    Runner.from_cfg(runner_cfg(tmp_path, 4)).train()
    checkpoint = tmp_path / 'iter_4.pth'
    assert checkpoint.exists()
    # The weights-only unpickler (torch's default) reads mmengine's checkpoint.
    state = torch.load(checkpoint, map_location='cpu')
    assert state['meta']['iter'] == 4
    resumed = Runner.from_cfg(runner_cfg(tmp_path, 6, resume=True))
    resumed.train()
    assert resumed.iter == 6 and (tmp_path / 'iter_6.pth').exists()
    tester = Runner.from_cfg(runner_cfg(tmp_path, 6,
                                        load_from=str(tmp_path / 'iter_6.pth')))
    metrics = tester.test()
    assert metrics['error'] >= 0


class RunsCode:

    def __reduce__(self):
        return (print, ('this checkpoint ran code',))


def test_weights_only_loading_stays_on(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump(dict(state_dict={}, payload=RunsCode()), f)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load'):
        torch.load(path)


class ReachesIntoAClass:
    """Pickles as getattr(HistoryBuffer, '__init__'): a first step towards
    the globals of a module, which the stand-in getattr must refuse."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    from mmengine.logging import HistoryBuffer
    path = tmp_path / 'probe.pth'
    torch.save(dict(ok=HistoryBuffer.mean), path)
    assert torch.load(path)['ok'] is HistoryBuffer.mean
    torch.save(dict(bad=ReachesIntoAClass()), path)
    with pytest.raises(pickle.UnpicklingError, match="'__init__'"):
        torch.load(path)
