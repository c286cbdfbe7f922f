"""Draw a maze with a planned and an executed path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compgen.tasks.maze.pointmaze import MazeGrid

JUMP = 0.2  # a plan step longer than this (5 steps' worth at the data's speed) is drawn as a gap


def draw_plan(grid: MazeGrid, planned: np.ndarray, executed: np.ndarray, start, goal,
              path: str | Path, title: str = "") -> None:
    """Write a PNG: wall cells, the plan's positions (T, 2) as dots joined only where one step
    is shorter than ``JUMP`` (a line never stands for a move the plan does not make), the executed
    path (S, 2), start, goal; the legend counts the plan's jumps and its states inside walls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    rows, cols = grid.shape
    fig, ax = plt.subplots(figsize=(0.9 * cols + 1, 0.9 * rows))
    for i, j in ((i, j) for i in range(rows) for j in range(cols) if grid.walls[i][j]):
        x, y = grid.cell_center((i, j))
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, color="0.3"))
    xy = planned[:, :2]
    steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    joined = np.insert(xy.astype(float), np.flatnonzero(steps > JUMP) + 1, np.nan, axis=0)  # NaN: a gap
    walls, jumps = int(grid.in_wall(xy).sum()), int((steps > JUMP).sum())
    ax.plot(joined[:, 0], joined[:, 1], ".-", ms=3, lw=1, color="C0",
            label=f"plan (sampled): {len(xy)} states, {walls} in walls, {jumps} jumps > {JUMP}")
    ax.plot(executed[:, 0], executed[:, 1], "-", lw=1.5, color="C1", label="executed (MuJoCo)")
    ax.plot(*start[:2], "o", color="C2", label="start")
    ax.add_patch(Circle(goal, 0.5, fill=False, ls="--", color="C3", label="goal (0.5)"))
    ax.set_xlim(-cols / 2, cols / 2)
    ax.set_ylim(-rows / 2, rows / 2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
