from .launch import (adapt_to_machine, add_common_args, apply_resume,
                     build_runner, default_work_dir, exit_on_bad_input,
                     guard_checkpoint_loading, latest_checkpoint, load_config)

__all__ = [
    'adapt_to_machine', 'add_common_args', 'apply_resume', 'build_runner',
    'default_work_dir', 'exit_on_bad_input', 'guard_checkpoint_loading',
    'latest_checkpoint', 'load_config'
]
