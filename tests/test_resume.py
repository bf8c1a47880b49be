"""``--resume`` without a value after a kill: the ``last_checkpoint`` pointer
that mmengine rewrites in place can be empty (killed during the write) or
name a file that is gone; training then resumes from the newest complete
checkpoint instead of failing."""
from mmengine.config import Config
from mmengine.runner import Runner
from toy_runner import runner_cfg

import mmpeft  # noqa: F401
from mmpeft.utils import apply_resume, latest_checkpoint


def touch(path, text=''):
    path.write_text(text)
    return str(path)


def test_pointer_naming_a_file_wins(tmp_path):
    touch(tmp_path / 'iter_8.pth')
    named = touch(tmp_path / 'iter_4.pth')
    touch(tmp_path / 'last_checkpoint', named + '\n')
    assert latest_checkpoint(str(tmp_path)) == named


def test_empty_pointer_falls_back_to_the_highest_number(tmp_path):
    for name in ('iter_2.pth', 'iter_10.pth', 'iter_9.pth', 'best_mIoU.pth',
                 '.tmp-x-iter_12.pth.part'):
        touch(tmp_path / name)
    touch(tmp_path / 'last_checkpoint')
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')


def test_dangling_pointer_falls_back(tmp_path):
    touch(tmp_path / 'epoch_3.pth')
    touch(tmp_path / 'last_checkpoint', str(tmp_path / 'epoch_4.pth'))
    assert latest_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_3.pth')


def test_no_checkpoint_starts_from_the_beginning(tmp_path):
    touch(tmp_path / 'last_checkpoint')
    assert latest_checkpoint(str(tmp_path)) is None
    cfg = Config(dict(work_dir=str(tmp_path), load_from='pretrained.pth'))
    apply_resume(cfg, 'auto')
    assert cfg.resume is False and cfg.load_from is None


def test_explicit_checkpoint_is_kept(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path)))
    apply_resume(cfg, 'some/iter_4.pth')
    assert cfg.resume is True and cfg.load_from == 'some/iter_4.pth'
    apply_resume(cfg, None)
    assert cfg.load_from == 'some/iter_4.pth'


def test_runner_resumes_past_an_empty_pointer(tmp_path):
    Runner.from_cfg(runner_cfg(tmp_path, 4)).train()
    (tmp_path / 'last_checkpoint').write_text('')
    cfg = Config(runner_cfg(tmp_path, 6))
    apply_resume(cfg, 'auto')
    assert cfg.load_from == str(tmp_path / 'iter_4.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    assert resumed.iter == 6 and (tmp_path / 'iter_6.pth').exists()
