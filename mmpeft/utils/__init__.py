from .launch import (adapt_to_machine, default_work_dir,
                     guard_checkpoint_loading)

__all__ = [
    'adapt_to_machine', 'default_work_dir', 'guard_checkpoint_loading'
]
