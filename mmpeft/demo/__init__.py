"""The pieces of ``make demo`` (tools/run_demo.py): runs through the real
tools, the shipped pretrained backbone, statistics, results.md and the
figures."""
from .pretraining import (PretrainedBackbone, check_shipped_weights,
                          pretrain_backbone)
from .report import MethodResult, claims, results_markdown, summarise
from .runs import Run, final_metrics, loss_curve, run_all

__all__ = [
    'PretrainedBackbone', 'check_shipped_weights', 'pretrain_backbone',
    'MethodResult', 'claims', 'results_markdown', 'summarise', 'Run',
    'final_metrics', 'loss_curve', 'run_all'
]
