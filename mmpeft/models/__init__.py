from .backbones import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .injection import POSITIONS, BlockSpec, SubBlockSpec
from .report import model_param_report

__all__ = ['POSITIONS', 'BlockSpec', 'SubBlockSpec', 'model_param_report']
