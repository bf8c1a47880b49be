from .launch import adapt_to_machine, default_work_dir

__all__ = ['adapt_to_machine', 'default_work_dir']
