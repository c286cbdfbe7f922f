"""``compgen bench discrete-mixing``: how fast Gibbs, Gibbs-with-Gradients and MH with uniform
flips approach the target, on the two standard Gibbs-with-Gradients benchmarks: an RBM with
random weights (100 visible, 25 hidden units) and a 2D Ising lattice (10 x 10, periodic).

For each sampler: log MMD (exponentiated Hamming kernel, biased estimate so it stays positive;
compared with its value for reference samples) to long-run reference samples against energy
evaluations and against seconds, and the effective sample size per second of a fixed random
projection of the state over the second half of the run. References: the RBM's block Gibbs
(exact conditionals given the hidden units) and, for Ising, long systematic-scan Gibbs.
Writes discrete_mixing.{json,md,png}.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from compgen.algebra.component import Component
from compgen.files import write_json
from compgen.metrics import effective_sample_size, hamming_mmd
from compgen.models.discrete import RBM, Ising, lattice_couplings
from compgen.samplers import sample
from compgen.tasks.results import finish, machine

# (label, sampler, settings); step counts give every sampler a comparable time budget here
SAMPLERS = [
    ("Gibbs (systematic)", "gibbs", {"steps": 20}),
    ("Gibbs (random scan)", "gibbs", {"steps": 20, "scan": "random"}),
    ("GWG, 1 flip", "gwg", {"steps": 1500}),
    ("GWG, 4 flips", "gwg", {"steps": 1500, "flips": 4}),
    ("MH, 1 uniform flip", "flip_mh", {"steps": 2500}),
]
CHECKPOINTS = 16  # MMD measurements per run, log-spaced in steps


def problems(seed: int = 0) -> dict[str, tuple[Component, callable]]:
    """name -> (component, reference sampler (n, generator) -> (n, D) samples)."""
    rbm = RBM.random(visible=100, hidden=25, weight_std=1.0, bias_std=0.5, seed=seed)
    ising = Ising(lattice_couplings(10, 0.35), name="ising10x10")
    return {
        "rbm": (rbm, lambda n, g: rbm.block_gibbs(n, 2000, g)),
        "ising": (ising, lambda n, g: sample(ising, n, "gibbs", steps=300, generator=g).x),
    }


def _measure(component: Component, reference: torch.Tensor, sampler: str, settings: dict, n: int,
             seed: int) -> dict:
    """One run: log-MMD at checkpoints, and the ESS per second of the projected trace."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(component.dim, generator=torch.Generator().manual_seed(7))
    steps = settings["steps"]
    checkpoints = set(torch.logspace(0, math.log10(steps), CHECKPOINTS).round().long().tolist())
    curve, trace = [], []

    def record(info: dict) -> None:
        trace.append((info["x"].float() @ direction, info["seconds"]))
        if info["i"] + 1 in checkpoints:
            mmd = hamming_mmd(info["x"], reference, unbiased=False)
            curve.append({"step": info["i"] + 1, "seconds": info["seconds"],
                          "evaluations": info["evaluations"], "log_mmd": math.log(mmd)})

    result = sample(component, n, sampler, generator=gen, callback=record, **settings)
    half = len(trace) // 2
    traces = torch.stack([v for v, _ in trace[half:]], dim=1)  # (chains, steps)
    seconds = trace[-1][1] - trace[half - 1][1]
    ess = effective_sample_size(traces)
    return {"curve": curve, "ess": ess, "ess_per_second": ess / seconds, "seconds": result.wall_time,
            "acceptance": float(result.acceptance.mean()), "final_log_mmd": curve[-1]["log_mmd"]}


def run_mixing_benchmark(out: Path, n: int = 300, n_reference: int = 1000, seeds: int = 3,
                         progress: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result: dict = {"n": n, "n_reference": n_reference, "seeds": seeds, "problems": {},
                    "machine": machine()}
    jobs = [(p, s) for p in problems() for s in SAMPLERS]
    bar = tqdm(total=len(jobs) * seeds, disable=not progress, desc="discrete mixing")
    for name, (component, reference_sampler) in problems().items():
        reference = reference_sampler(n_reference, torch.Generator().manual_seed(1000))
        floor = hamming_mmd(reference_sampler(n, torch.Generator().manual_seed(2000)), reference,
                            unbiased=False)
        entry = result["problems"][name] = {"component": repr(component), "dim": component.dim,
                                            "log_mmd_floor": math.log(floor), "rows": []}
        for label, sampler, settings in SAMPLERS:
            runs = []
            for seed in range(seeds):
                runs.append(_measure(component, reference, sampler, settings, n, seed))
                bar.update()
            entry["rows"].append({"label": label, "sampler": sampler, "settings": settings, "runs": runs})
            result["seconds"] = round(time.perf_counter() - start, 1)
            write_json(out / "discrete_mixing.json", result)
    return finish(out, "discrete_mixing", result, format_table(result), plot)


def format_table(result: dict) -> str:
    lines = [f"{result['n']} chains, {result['seeds']} seeds (median); MMD to {result['n_reference']} "
             "reference samples; ESS of a random projection over the second half of each run.", ""]
    for entry in result["problems"].values():
        lines += [f"**{entry['component']}** (D={entry['dim']}; log-MMD of reference samples to the "
                  f"reference: {entry['log_mmd_floor']:.2f})", "",
                  "| sampler | steps | seconds | final log-MMD | ESS / s | acceptance |",
                  "|---|---|---|---|---|---|"]
        for row in entry["rows"]:
            runs = row["runs"]
            def med(key, runs=runs):
                return statistics.median(r[key] for r in runs)
            lines.append(f"| {row['label']} | {row['settings']['steps']} | {med('seconds'):.1f} "
                         f"| {med('final_log_mmd'):.2f} | {med('ess_per_second'):.1f} "
                         f"| {med('acceptance'):.2f} |")
        lines.append("")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["problems"])
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.6 * len(names)), squeeze=False)
    for row_axes, name in zip(axes, names, strict=True):
        entry = result["problems"][name]
        for row in entry["rows"]:
            curves = [r["curve"] for r in row["runs"]]
            mean = [statistics.fmean(c[i]["log_mmd"] for c in curves) for i in range(len(curves[0]))]
            for ax, key in zip(row_axes, ["evaluations", "seconds"], strict=True):
                xs = [statistics.fmean(c[i][key] for c in curves) for i in range(len(curves[0]))]
                ax.plot(xs, mean, marker=".", label=row["label"])
        for ax, key in zip(row_axes, ["energy evaluations per chain", "seconds"], strict=True):
            ax.axhline(entry["log_mmd_floor"], color="k", ls="--", lw=1, label="reference vs reference")
            ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel("log MMD")
            ax.set_title(entry["component"], fontsize=9)
        row_axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
