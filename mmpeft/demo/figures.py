"""The demo's figures: metric versus trainable share (the papers' Figure 1
form) and the training-loss curves of the study."""
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .report import MethodResult  # noqa: E402

# The frozen backbone trains 0% of it: a log axis needs a floor for it.
ZERO_SHARE = 0.01


def plot_results(results: Sequence[MethodResult], out: str,
                 metric: str = 'mIoU', title: str = '') -> str:
    """One point per method at (trainable % of backbone, mean metric) with
    a bar of +- one std over the seeds; log x axis."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for r in results:
        x = max(r.share, ZERO_SHARE)
        ax.errorbar(x, r.mean, yerr=r.std, fmt='o', capsize=4,
                    markersize=7, label=f'{r.method} ({r.mean:.1f})')
        ax.annotate(r.method, (x, r.mean), textcoords='offset points',
                    xytext=(6, 6), fontsize=8)
    ax.set_xscale('log')
    ax.set_xlabel('trainable parameters, % of the backbone '
                  f'(0% drawn at {ZERO_SHARE}%)')
    ax.set_ylabel(f'{metric} (mean +- std over seeds)')
    ax.set_title(title or f'{metric} vs trainable share')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_loss_curves(curves: Dict[str, List[Tuple[List[int], List[float]]]],
                     out: str) -> str:
    """Mean training loss over the seeds of each method (shaded: min to
    max), against the iteration."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for method, runs in curves.items():
        steps = runs[0][0]
        length = min(len(losses) for _, losses in runs)
        losses = np.array([losses[:length] for _, losses in runs])
        ax.plot(steps[:length], losses.mean(0), label=method)
        ax.fill_between(steps[:length], losses.min(0), losses.max(0),
                        alpha=0.2)
    ax.set_xlabel('iteration')
    ax.set_ylabel('training loss')
    ax.set_yscale('log')
    ax.set_title('training loss of the study')
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def stack_images(paths: Sequence[str], out: str) -> str:
    """Stack PNGs of one width top to bottom (the rollout grids)."""
    import cv2
    images = [cv2.imread(p) for p in paths]
    missing = [p for p, img in zip(paths, images) if img is None]
    if missing:
        raise FileNotFoundError(f'cannot read {missing}')
    cv2.imwrite(out, cv2.vconcat(images))
    return osp.abspath(out)
