"""Training-side pieces: an optimizer-wrapper constructor for PEFT."""
from .optim_constructor import PEFTOptimWrapperConstructor

__all__ = ['PEFTOptimWrapperConstructor']
