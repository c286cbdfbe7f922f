"""``compgen bench images``: composed sentence models vs the monolithic paragraph model.

For 1-4 requested objects, on scenes of the training split ("seen": no red object beside a
blue one) and held-out scenes (a red and a blue object: a combination neither model saw), an
image counts as correct only if the detector finds every requested object as described. Also:
negation (nothing in the center), a tapestry, the detector's accuracy on ground truth, and per
method images per second and network passes per image.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from compgen.checkpoint import load
from compgen.tasks.images.detector import correct, detect, exact
from compgen.tasks.images.generate import (
    GUIDANCE,
    SAMPLERS,
    paragraph_prompt,
    sample_images,
    sentence_product,
)
from compgen.tasks.images.plots import image_grid
from compgen.tasks.images.scenes import COLOURS, PLACES, SHAPES, SceneObject, make_scenes, random_scene
from compgen.tasks.images.tapestry import Layout, region_correct, tapestry
from compgen.tasks.results import finish, machine

# name -> (model kind, sampler, how the prompt becomes a composition)
METHODS = {
    "composition, annealed ULA": ("sentences", "ula", sentence_product),
    "composition, annealed MALA (line-integral MH)": ("sentences", "mala", sentence_product),
    "composition, reverse diffusion": ("sentences", "reverse", sentence_product),
    "monolithic, annealed ULA": ("paragraph", "ula", paragraph_prompt),
    "monolithic, reverse diffusion": ("paragraph", "reverse", paragraph_prompt),
}
# Composable Diffusion (Liu et al. 2022), CLEVR object positions, all objects present
REFERENCE = {"1": 0.86, "2": 0.59, "3": 0.31}  # keyed as JSON keys are
CENTER = PLACES.index("center")


def detector_check(n: int = 2000, seed: int = 123) -> dict:
    """The detector on ground-truth renders (any split), clean and with N(0, 0.1^2) pixel noise."""
    images, scenes = make_scenes(n, seed, split="any")
    noisy = images + np.random.default_rng(seed).normal(0, 0.1, images.shape).astype(np.float32)
    return {"renders": n,
            "exact": float(np.mean([exact(i, s) for i, s in zip(images, scenes, strict=True)])),
            "correct": float(np.mean([correct(i, s) for i, s in zip(images, scenes, strict=True)])),
            "correct_noise_0.1": float(np.mean([correct(i, s) for i, s in zip(noisy, scenes, strict=True)]))}


def run_images_benchmark(out: Path, models: Path, scenes: int = 8, images: int = 6,
                         counts: tuple[int, ...] = (1, 2, 3, 4), weight: float = GUIDANCE, seed: int = 0,
                         progress: bool = True) -> dict:
    """Accuracy per (objects, split, method) over ``scenes`` prompts x ``images`` samples each."""
    nets = {kind: load(models / f"scenes_{kind}.safetensors") for kind in ("sentences", "paragraph")}
    result = {"settings": {"scenes": scenes, "images_per_scene": images, "weight": weight, "seed": seed,
                           "samplers": SAMPLERS, "methods": {m: list(v[:2]) for m, v in METHODS.items()}},
              "training": {kind: _record(models / f"scenes_{kind}.json") for kind in nets},
              "machine": machine(), "reference": REFERENCE, "detector": detector_check(), "cells": []}
    cells = [(k, split) for k in counts for split in ("seen", "held_out") if k >= 2 or split == "seen"]
    bar = tqdm(total=len(cells) * len(METHODS) * scenes, desc="images", disable=not progress)
    examples = []
    for k, split in cells:
        rng = np.random.default_rng([seed, k, split == "held_out"])
        prompts = [random_scene(rng, k, "train" if split == "seen" else "held_out") for _ in range(scenes)]
        for method, (kind, sampler, compose) in METHODS.items():
            right, seconds, passes = 0, 0.0, 0
            for j, objects in enumerate(prompts):
                composition = compose(nets[kind], [o.sentence for o in objects], weight)
                x, info = sample_images(composition, images, sampler, seed=j)
                right += sum(correct(i, objects) for i in x.numpy())
                seconds += info.wall_time
                passes += info.evaluations * composition.num_factors
                if j == 0:
                    examples.append({"objects_count": k, "split": split, "method": method,
                                     "objects": objects, "images": x.numpy()})
                bar.update()
            result["cells"].append({"objects": k, "split": split, "method": method,
                                    "accuracy": right / (scenes * images), "images": scenes * images,
                                    "images_per_second": scenes * images / seconds,
                                    "network_passes_per_image": passes / scenes})
    bar.close()
    result["negation"] = _negation(nets["sentences"], weight, seed)
    result["tapestry"], canvases = _tapestry(nets["sentences"], weight, seed)
    result["summary"] = _summary(result)
    image_grid(_example_rows(examples), out / "images_examples.png")
    image_grid([(f"{sampler}: " + "; ".join(f"window {i}: " + " and ".join(r.sentences)
                                            for i, r in enumerate(layout.regions)), x)
                for sampler, layout, x in canvases], out / "images_tapestry.png", scale=1.6)
    return finish(out, "images", result, _table(result), _plot)


def _record(path: Path) -> dict:
    """A model's training record (command, CPU seconds, parameters), if it is beside it."""
    return json.loads(path.read_text()) if path.exists() else {}


def _negation(model, weight: float, seed: int, n: int = 32) -> dict:
    """"a red circle in the top left" with and without "and nothing in the center" (the twelve
    center sentences negated): how often something is drawn in the center, and the red circle."""
    wanted = [SceneObject("circle", "red", 0)]
    nothing = [SceneObject(s, c, CENTER).sentence for s in SHAPES for c in COLOURS]
    out = {}
    for name, negatives in (("plain", []), ("nothing in the center", nothing)):
        composition = sentence_product(model, [wanted[0].sentence], weight, negatives=negatives)
        x, _ = sample_images(composition, n, "ula", seed=seed)
        out[name] = {"images": n,
                     "something_in_center": float(np.mean([any(d.place == CENTER for d in detect(i))
                                                           for i in x.numpy()])),
                     "red_circle_top_left": float(np.mean([correct(i, wanted) for i in x.numpy()]))}
    return out


def _tapestry(model, weight: float, seed: int, canvases: int = 8, images: int = 4) -> tuple[dict, list]:
    """Random 24 x 48 canvases of 4 objects on the 3 x 6 cell grid; windows every 8 pixels."""
    rng = np.random.default_rng([seed, 99])
    rows = {sampler: [] for sampler in ("ula", "reverse")}
    shown = []
    for c in range(canvases):
        cells = rng.choice(18, 4, replace=False)
        objects = [(SHAPES[rng.integers(3)], list(COLOURS)[rng.integers(4)], int(i) // 6, int(i) % 6)
                   for i in cells]
        layout = Layout.from_objects(24, 48, objects)
        for sampler in rows:
            start = time.perf_counter()
            x, _ = sample_images(tapestry(model, layout, weight), images, sampler, seed=c, canvas=(24, 48))
            ok = region_correct(x.numpy(), layout)
            rows[sampler].append({"regions": ok.mean().item(), "canvas": ok.all(1).mean().item(),
                                  "seconds": time.perf_counter() - start})
            if c < 2:
                shown.append((sampler, layout, x.numpy()))
    summary = {s: {"region_accuracy": float(np.mean([r["regions"] for r in v])),
                   "canvas_accuracy": float(np.mean([r["canvas"] for r in v])),
                   "seconds_per_canvas": float(np.median([r["seconds"] for r in v]) / images)}
               for s, v in rows.items()}
    return {"canvases": canvases, "images_per_canvas": images, "height": 24, "width": 48, "stride": 8,
            "windows": 4, "objects": 4, "samplers": summary}, shown


def _summary(result: dict) -> list[dict]:
    rows = []
    for method in METHODS:
        cells = [c for c in result["cells"] if c["method"] == method]
        rows.append({"method": method,
                     **{f"{c['split']}_{c['objects']}": c["accuracy"] for c in cells},
                     "images_per_second": float(np.median([c["images_per_second"] for c in cells])),
                     "network_passes_per_image": {c["objects"]: c["network_passes_per_image"]
                                                  for c in cells if c["split"] == "seen"}})
    return rows


def _table(result: dict) -> str:
    counts = sorted({c["objects"] for c in result["cells"]})
    held = [k for k in counts if k >= 2]
    s = result["settings"]
    lines = [f"Images with every requested object present (detector), {s['scenes']} prompts x "
             f"{s['images_per_scene']} images per cell; guidance weight {s['weight']:g}; "
             "held out = a red and a blue object together (never in training)", "",
             "| method | " + " | ".join(f"seen {k}" for k in counts) + " | "
             + " | ".join(f"held-out {k}" for k in held) + " | images/s | network passes / image |",
             "|---" * (2 + len(counts) + len(held)) + "|---|"]
    ref = result["reference"]
    lines.append("| Composable Diffusion (CLEVR, reported) | "
                 + " | ".join(f"{100 * ref[str(k)]:.0f}%" if str(k) in ref else "-" for k in counts)
                 + " |" + " - |" * len(held) + " - | - |")
    for row in result["summary"]:
        passes = row["network_passes_per_image"]
        lines.append(f"| {row['method']} | "
                     + " | ".join(f"{100 * row[f'seen_{k}']:.0f}%" for k in counts) + " | "
                     + " | ".join(f"{100 * row[f'held_out_{k}']:.0f}%" for k in held)
                     + f" | {row['images_per_second']:.2f} | "
                     + ", ".join(f"{passes[k]:.0f}" for k in sorted(passes)) + " |")
    d = result["detector"]
    lines += ["", f"Detector on {d['renders']} ground-truth renders: {100 * d['exact']:.2f}% exact, "
              f"{100 * d['correct']:.2f}% correct ({100 * d['correct_noise_0.1']:.2f}% with noise std 0.1)."]
    neg = result["negation"]
    lines.append(f"Negation, \"a red circle in the top left\" (annealed ULA, "
                 f"{neg['plain']['images']} images): "
                 f"something in the center {100 * neg['plain']['something_in_center']:.0f}% -> "
                 f"{100 * neg['nothing in the center']['something_in_center']:.0f}% with \"and nothing in "
                 f"the center\" (12 negated sentences); red circle present "
                 f"{100 * neg['plain']['red_circle_top_left']:.0f}% -> "
                 f"{100 * neg['nothing in the center']['red_circle_top_left']:.0f}%.")
    tap = result["tapestry"]
    for sampler, v in tap["samplers"].items():
        lines.append(f"Tapestry {tap['height']}x{tap['width']} ({tap['windows']} overlapping windows, "
                     f"{tap['objects']} objects, {tap['canvases']} canvases x {tap['images_per_canvas']}), "
                     f"{sampler}: regions correct {100 * v['region_accuracy']:.0f}%, whole canvas "
                     f"{100 * v['canvas_accuracy']:.0f}%, {v['seconds_per_canvas']:.1f} s per canvas.")
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, split in zip(axes, ("seen", "held_out"), strict=True):
        for method in METHODS:
            cells = [c for c in result["cells"] if c["method"] == method and c["split"] == split]
            k = [c["objects"] for c in cells]
            acc = np.array([c["accuracy"] for c in cells])
            n = np.array([c["images"] for c in cells])
            ax.errorbar(k, 100 * acc, yerr=100 * np.sqrt(acc * (1 - acc) / n), marker="o", capsize=3,
                        label=method)
        if split == "seen":
            ref = {int(k): v for k, v in result["reference"].items()}
            ax.plot(list(ref), [100 * v for v in ref.values()], "k--", label="Composable Diffusion (CLEVR)")
        ax.set_xlabel("objects requested")
        ax.set_title({"seen": "seen combinations", "held_out": "held out: red and blue together"}[split])
        ax.set_xticks(sorted({c["objects"] for c in result["cells"]}))
    axes[0].set_ylabel("images with every object (%)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _example_rows(examples: list[dict]) -> list[tuple[str, np.ndarray]]:
    return [(f"{e['method']}: " + " and ".join(o.sentence for o in e["objects"]), e["images"])
            for e in examples if e["split"] == "held_out" or e["objects_count"] == 1]
