"""Pictures of generated images: rows of samples, each row titled with its prompt."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def image_grid(rows: list[tuple[str, np.ndarray]], path: Path, scale: float = 1.3) -> None:
    """Write a PNG with one row per ``(title, images)``; images (N, 3, H, W) in [0, 1]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = max(len(images) for _, images in rows)
    height, width = rows[0][1].shape[2:]
    fig_width = scale * per * width / height
    # wrap titles to the figure's width: a title wider than the figure makes tight_layout
    # shrink every image to nothing
    titles = [textwrap.fill(title, width=max(20, int(fig_width * 19))) for title, _ in rows]
    lines = max(t.count("\n") + 1 for t in titles)
    fig, axes = plt.subplots(len(rows), per, squeeze=False,
                             figsize=(fig_width, (scale + 0.1 * lines) * len(rows) + 0.3))
    for ax_row, title, (_, images) in zip(axes, titles, rows, strict=True):
        for j, ax in enumerate(ax_row):
            ax.axis("off")
            if j < len(images):
                ax.imshow(images[j].transpose(1, 2, 0), interpolation="nearest")
        ax_row[0].set_title(title, fontsize=6, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
