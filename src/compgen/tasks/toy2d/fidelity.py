"""Sampler fidelity: how close each sampler gets to the exact composition.

For every (task, component kind, sampler) row: exact log-likelihood of the samples under the
grid-normalized exact density (and its gap to what exact samples attain), W2 to exact samples
over the noise floor (W2 between two exact sample sets of the same size), MMD, acceptance,
evaluations of the composed density per chain, and samples per second.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from compgen.algebra.component import Component, EnergyRequiredError
from compgen.metrics import GridDensity, grid_density, log_likelihood, mmd, w2
from compgen.samplers import sample
from compgen.tasks.toy2d import models as toy2d

SAMPLER_ROWS: list[tuple[str, dict]] = [
    ("reverse", {}),
    ("reverse_repeat", {}),
    ("ula", {}),
    ("uhmc", {}),
    ("mala", {}),
    ("hmc", {}),
    ("mala", {"line_points": 3}),
]


def row_label(sampler: str, settings: dict) -> str:
    return sampler + "".join(f" {k}={v}" for k, v in settings.items())


def reference(exact: Component, n: int, seed: int = 12345) -> tuple[GridDensity, float]:
    """The grid-normalized exact density and the W2 noise floor at sample size n."""
    ref = grid_density(exact, lo=-4.5, hi=4.5, resolution=512)
    return ref, ref.noise_floor(n, torch.Generator().manual_seed(seed), repeats=5)


def evaluate(composition: Component, ref: GridDensity, floor: float, sampler: str | None, settings: dict,
             n: int, seeds: int, first_seed: int = 0) -> tuple[dict, torch.Tensor | None]:
    """Run one sampler (None: ``cg.sample``'s default) ``seeds`` times, from seed ``first_seed``;
    returns a summary and the first run's samples (n, 2).

    An unsupported combination (MH on score-only models) gives ``{"error": ...}`` and None.
    """
    lls, w2s, mmds, accs, sps, evals, first = [], [], [], [], [], 0, None
    for seed in range(first_seed, first_seed + seeds):
        try:
            result = sample(composition, n, sampler, generator=torch.Generator().manual_seed(seed),
                            **settings)
        except EnergyRequiredError as err:
            return {"error": str(err)}, None
        first = result.x if first is None else first
        exact = ref.sample(n, torch.Generator().manual_seed(1000 + seed))
        lls.append(log_likelihood(result.x, ref))
        w2s.append(w2(result.x, exact))
        mmds.append(mmd(result.x, exact))
        acc = result.acceptance[~result.acceptance.isnan()]
        accs.append(float(acc.mean()) if len(acc) else float("nan"))
        sps.append(result.samples_per_second)
        evals = result.evaluations
    w2_median = statistics.median(w2s)
    return {
        "exact_ll": statistics.fmean(lls), "ll_gap": ref.expected_log_prob() - statistics.fmean(lls),
        "w2": w2_median, "w2_over_floor": w2_median / floor, "w2_per_seed": w2s,
        "mmd": statistics.fmean(mmds), "acceptance": statistics.fmean(accs),
        "evaluations": evals, "samples_per_second": statistics.median(sps),
        "t_min": float(result.levels[-1]),
    }, first


def measure(jobs: list[tuple[str, str, str, dict]], named: dict[str, dict[str, Component]],
            refs: dict[str, tuple[GridDensity, float]], n: int, seeds: int | dict[str, int],
            overrides: dict | None = None,
            progress: bool = True, desc: str = "fidelity",
            on_row: Callable[[list[dict]], None] | None = None) -> tuple[list[dict], dict]:
    """Evaluate (task, kind, sampler, settings) jobs; ``overrides`` go to every sampler.

    ``seeds`` is the number of repeats per row, or a number per component kind.

    Returns the rows and, per (task, kind), figure panels: the exact density, then samples.
    A composition that cannot be built (a mixture of score-only models) is an error row.
    """
    rows, panels = [], {}
    for task, kind, sampler, settings in tqdm(jobs, disable=not progress, desc=desc):
        ref, floor = refs[task]
        label = row_label(sampler, settings)
        try:
            composition = toy2d.parse_task(task, named[kind])
        except EnergyRequiredError as err:
            metrics, x = {"error": str(err)}, None
        else:
            repeats = seeds[kind] if isinstance(seeds, dict) else seeds
            metrics, x = evaluate(composition, ref, floor, sampler, {**settings, **(overrides or {})},
                                  n, repeats)
        rows.append({"task": task, "kind": kind, "sampler": label, "metrics": metrics})
        panel = panels.setdefault((task, kind), [(f"{task}: exact\n{toy2d.TASKS[task]}", ref)])
        if x is not None:
            panel.append((f"{kind} / {label}\nW2/floor {metrics['w2_over_floor']:.2f}", x))
        if on_row is not None:
            on_row(rows)
    return rows, panels


def format_table(rows: list[dict]) -> str:
    """Markdown table of fidelity rows (each with task, kind, sampler and the metrics)."""
    head = ("| task | components | sampler | exact-LL (gap) | W2 / floor | MMD | accept | evals | "
            "samples/s |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        m = r["metrics"]
        if "error" in m:
            lines.append(f"| {r['task']} | {r['kind']} | {r['sampler']} | n/a: needs energies "
                         "| | | | | |")
            continue
        acc = "-" if m["acceptance"] != m["acceptance"] else f"{m['acceptance']:.2f}"
        lines.append(
            f"| {r['task']} | {r['kind']} | {r['sampler']} | {m['exact_ll']:.3f} ({m['ll_gap']:+.3f}) "
            f"| {m['w2_over_floor']:.2f} | {m['mmd']:.4f} | {acc} | {m['evaluations']} "
            f"| {m['samples_per_second']:.0f} |")
    return "\n".join(lines)
