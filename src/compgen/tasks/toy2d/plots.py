"""Figures for the 2D suite (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from torch import Tensor  # noqa: E402

from compgen.metrics import GridDensity  # noqa: E402


def sample_grid(panels: Sequence[Sequence[tuple[str, Tensor | GridDensity]]], path: Path,
                lim: float = 3.5) -> Path:
    """A grid of panels, one row per composition: an exact density image or a sample scatter."""
    rows, cols = len(panels), max(len(r) for r in panels)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, row in enumerate(panels):
        for c, (title, content) in enumerate(row):
            ax = axes[r, c]
            ax.set_axis_on()
            ax.set_xticks([]), ax.set_yticks([])
            if isinstance(content, GridDensity):
                ax.imshow(content.probs.T.numpy() ** 0.5, origin="lower", cmap="magma",
                          extent=[content.lo, content.hi, content.lo, content.hi])
            else:
                x = content.numpy()
                ax.scatter(x[:, 0], x[:, 1], s=0.5, alpha=0.4, color="C0", rasterized=True)
            ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
            ax.set_title(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves(x: Sequence[float], series: dict[str, tuple[np.ndarray, np.ndarray]], path: Path,
           xlabel: str, ylabel: str, title: str, logy: bool = False) -> Path:
    """Lines with error bars: ``series[label] = (mean, std)`` over ``x`` (log-scaled)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for label, (mean, std) in series.items():
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
