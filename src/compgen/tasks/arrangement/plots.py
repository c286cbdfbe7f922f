"""Draw an arrangement: the tray, each object's outline and name, and which constraints hold."""

from __future__ import annotations

from pathlib import Path

from compgen.tasks.arrangement.constraints import holds, implicit_constraints
from compgen.tasks.arrangement.problems import Problem

COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def draw_arrangement(problem: Problem, poses, path: str | Path, title: str = "") -> None:
    """Write a PNG of ``problem`` with objects at ``poses``; failed constraints are listed in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle

    scene = problem.scene(poses)
    W, H = problem.tray
    fig, (ax, text) = plt.subplots(1, 2, figsize=(8, 4), gridspec_kw={"width_ratios": [1, 0.8]})
    ax.add_patch(Rectangle((0, 0), W, H, fill=False, lw=2, color="k"))
    for i, name in enumerate(problem.names):
        colour = COLOURS[i % len(COLOURS)]
        ax.add_patch(Polygon(scene.polygon(i), closed=True, alpha=0.6, color=colour))
        ax.annotate(name, scene.poses[i], ha="center", va="center", fontsize=8)
    pad = 0.1 * max(W, H)
    ax.set_xlim(-pad, W + pad)
    ax.set_ylim(-pad, H + pad)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    lines = []
    implicit = implicit_constraints(len(problem.shapes))
    for c in list(problem.constraints) + [c for c in implicit if not holds(scene, c)]:
        ok = holds(scene, c)
        words = " ".join([c.type, *(problem.names[i] for i in c.objects)])
        lines.append((("✓ " if ok else "✗ ") + words, ok))
    for k, (line, ok) in enumerate(lines[:30]):
        text.text(0, 1 - 0.033 * k, line, color="k" if ok else "#c44e52", fontsize=8, va="top",
                  transform=text.transAxes)
    text.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
