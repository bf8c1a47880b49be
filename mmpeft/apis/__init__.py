from .inference import build_from_config, init_peft_model, load_checkpoint_file
from .multitask import SharedBackboneTasks

__all__ = [
    'build_from_config', 'init_peft_model', 'load_checkpoint_file',
    'SharedBackboneTasks'
]
