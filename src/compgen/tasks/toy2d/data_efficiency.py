"""``compgen bench data-efficiency``: two factor models on N/2 samples each, composed, against
one monolithic model on N samples of the composed distribution (equal total data).

Product: ``bars_h & bars_v`` (a 4x4 grid of blobs the factors never show as such).
Mixture: ``ring | bars_h``. The monolithic model is sampled by reverse diffusion (exact for a
single model); the composition by annealed MALA on the learned energies. Metric: W2 to exact
samples over the noise floor, and exact log-likelihood, over seeds.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from compgen.data.toy2d import density
from compgen.expression import parse
from compgen.metrics import grid_density, log_likelihood, w2
from compgen.models.diffusion import EnergyDiffusion
from compgen.samplers import sample
from compgen.tasks.results import finish, mean_std
from compgen.tasks.toy2d.plots import curves
from compgen.training import train

TASKS = {
    "product": ("bars_h & bars_v", ("bars_h", "bars_v")),
    "mixture": ("ring | bars_h", ("ring", "bars_h")),
}
SIZES = (100, 300, 1000, 3000, 10000)
EVAL_N = 2000
COMPOSED_SAMPLER = ("mala", {})


def _fit(data: torch.Tensor, name: str, steps: int, seed: int) -> EnergyDiffusion:
    return train(EnergyDiffusion(dim=2, name=name), data, steps=steps, seed=seed, progress=False,
                 batch_size=256)  # the batch the recorded results used


def score_samples(x: torch.Tensor, ref, floor: float, seed: int) -> dict:
    """W2 of (N, 2) samples ``x`` to exact samples of the grid density ``ref``, over ``floor``
    (the noise floor at EVAL_N), and their exact log-likelihood under ``ref``."""
    exact = ref.sample(EVAL_N, torch.Generator().manual_seed(5000 + seed))
    return {"w2_over_floor": w2(x, exact) / floor, "exact_ll": log_likelihood(x, ref)}


def run_one(task: str, size: int, seed: int, steps: int, ref, floor: float) -> dict:
    """Train monolithic and factor models at one data size and seed; score both."""
    expression, factors = TASKS[task]
    gen = torch.Generator().manual_seed(seed)
    mono = _fit(ref.sample(size, gen), "mono", steps, seed)
    parts = {f: _fit(density(f).sample(size // 2, gen), f, steps, seed) for f in factors}
    sample_gen = torch.Generator().manual_seed(seed)
    x_mono = sample(mono, EVAL_N, "reverse", generator=sample_gen).x
    sampler, settings = COMPOSED_SAMPLER
    x_comp = sample(parse(expression, parts), EVAL_N, sampler, generator=sample_gen, **settings).x
    return {"monolithic": score_samples(x_mono, ref, floor, seed),
            "composed": score_samples(x_comp, ref, floor, seed)}


def run_data_efficiency(out: Path, tasks: tuple[str, ...] = tuple(TASKS), sizes: tuple[int, ...] = SIZES,
                        seeds: int = 3, steps: int = 8000, progress: bool = True) -> dict:
    """Run the comparison for ``tasks``; writes data_efficiency_{task}.{json,md,png} per task."""
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}; choose from {sorted(TASKS)}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: dict = {"sizes": list(sizes), "seeds": seeds, "train_steps": steps, "tasks": {},
                     "monolithic_sampler": "reverse", "composed_sampler": list(COMPOSED_SAMPLER)}
    lines = ["| task | N | monolithic W2/floor | composed W2/floor | monolithic exact-LL "
             "| composed exact-LL |", "|---|---|---|---|---|---|"]
    jobs = [(t, n, s) for t in tasks for n in sizes for s in range(seeds)]
    refs = {}
    for task in tasks:
        ref = grid_density(parse(TASKS[task][0], {f: density(f) for f in TASKS[task][1]}), lo=-4.5, hi=4.5)
        refs[task] = (ref, ref.noise_floor(EVAL_N, torch.Generator().manual_seed(7), repeats=5))
    runs: dict = {t: {n: [] for n in sizes} for t in tasks}
    for task, size, seed in tqdm(jobs, disable=not progress, desc="data efficiency"):
        runs[task][size].append(run_one(task, size, seed, steps, *refs[task]))
    for task in tasks:
        summary = {}
        for method in ("monolithic", "composed"):
            for metric in ("w2_over_floor", "exact_ll"):
                vals = [[r[method][metric] for r in runs[task][n]] for n in sizes]
                summary[f"{method}_{metric}"] = {"mean": [statistics.fmean(v) for v in vals],
                                                 "std": [statistics.pstdev(v) for v in vals]}
        results["tasks"][task] = {"expression": TASKS[task][0], "noise_floor": refs[task][1],
                                  "expected_ll": refs[task][0].expected_log_prob(),
                                  "summary": summary, "runs": runs[task]}
        for i, n in enumerate(sizes):
            keys = ("monolithic_w2_over_floor", "composed_w2_over_floor", "monolithic_exact_ll",
                    "composed_exact_ll")
            cells = [mean_std(summary[k]["mean"][i], summary[k]["std"][i], seeds, ".2f") for k in keys]
            lines.append(f"| {task} | {n} | " + " | ".join(cells) + " |")
        spread = {method: tuple(np.array(summary[f"{method}_w2_over_floor"][k]) for k in ("mean", "std"))
                  for method in ("monolithic", "composed")}
        curves(list(sizes), {"monolithic (N samples, reverse diffusion)": spread["monolithic"],
                             "composed (2 x N/2 samples, annealed MALA)": spread["composed"]},
               out / f"data_efficiency_{task}.png", "total training samples N",
               "W2 / noise floor (lower is better)",
               f"{task}: {TASKS[task][0]} ({seeds} seed{'s, mean ± std' if seeds > 1 else ''})", logy=True)
    results["seconds"] = round(time.perf_counter() - start, 1)
    name = "data_efficiency" + "".join(f"_{t}" for t in tasks)
    return finish(out, name, results, "\n".join(lines), None)  # the plots are per task, above
