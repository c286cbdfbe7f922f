"""``compgen bench discovery``: train a decomposition model, then measure on held-out scenes
what its components are (reconstruction, FG-ARI, coverage) and draw them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compgen.checkpoint import save
from compgen.tasks.decomposition.data import make_scenes
from compgen.tasks.decomposition.evaluate import (
    LEVELS,
    Decomposition,
    attention_foreground_ari,
    decompose,
    discovery_metrics,
)
from compgen.tasks.decomposition.models import BATCH, COMPONENTS, train_decomposition
from compgen.tasks.results import finish, machine

TEST_SEED = 10_000  # held-out scenes: a seed no training run uses


def run_discovery(out: Path, dataset: str = "all", steps: int = 6000, scenes: int = 10_000, test: int = 100,
                  seed: int = 0, levels: int = LEVELS, progress: bool = True) -> dict:
    """Train (``steps`` of :data:`BATCH` images), save the weights beside the results, evaluate."""
    out.mkdir(parents=True, exist_ok=True)
    model, seconds = train_decomposition(dataset, steps, scenes, seed, progress)
    weights = out / f"decomposition_{dataset}.safetensors"
    save(model, weights)
    images, held_out = make_scenes(test, dataset, seed=TEST_SEED + seed)
    result = decompose(model, images, seed=seed, levels=levels)
    metrics = discovery_metrics(result, held_out)
    metrics["attention_foreground_ari"] = attention_foreground_ari(model, images, held_out)
    summary = {"benchmark": "discovery", "dataset": dataset, "steps": steps, "batch": BATCH,
               "components": COMPONENTS, "train_scenes": scenes, "seed": seed, "levels": levels,
               "train_seconds": round(seconds, 1), "weights": weights.name, **metrics, "machine": machine()}
    table = "\n".join([
        f"discovery on {dataset!r}: {steps} steps of {BATCH} images ({seconds / 60:.1f} min), "
        f"{test} held-out scenes",
        "| reconstruction MSE | reconstruction exact | FG-ARI (renders) | FG-ARI (encoder attention) "
        "| coverage |",
        "|---|---|---|---|---|",
        f"| {metrics['reconstruction_mse']:.4f} | {metrics['reconstruction_exact']:.2f} | "
        f"{metrics['foreground_ari']:.3f} | {metrics['attention_foreground_ari']:.3f} | "
        f"{metrics['coverage']:.3f} |",
    ])
    np.savez_compressed(out / f"discovery_{dataset}_renders.npz", images=result.images[:8],
                        reconstructions=result.reconstructions[:8], renders=result.renders[:8])
    return finish(out, f"discovery_{dataset}", summary, table,
                  lambda _, path: plot_decomposition(result, path))


def plot_decomposition(result: Decomposition, path: Path, rows: int = 8) -> None:
    """Picture grid: per row an image, its reconstruction and each component rendered alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(rows, len(result.images))
    k = result.renders.shape[1]
    fig, axes = plt.subplots(rows, k + 2, figsize=(1.2 * (k + 2), 1.2 * rows), squeeze=False)
    for i in range(rows):
        pictures = [result.images[i], result.reconstructions[i], *result.renders[i]]
        for j, picture in enumerate(pictures):
            axes[i, j].imshow(picture.transpose(1, 2, 0), interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    for j, title in enumerate(["image", "composed", *[f"comp. {c}" for c in range(k)]]):
        axes[0, j].set_title(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
