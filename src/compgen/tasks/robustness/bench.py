"""``compgen bench robustness``: samplers on generated composition tasks of learned factors.

A pool of random factors (:mod:`.families`) is learned by ``cg.train`` with its defaults, each
on 20,000 exact samples; random tasks over the pool (:mod:`.generator`) are sampled by every
sampler row and judged against their exact grid-normalized references. Reported as
distributions over tasks, never a best case:

- per task and sampler: W2 / noise floor, the exact-LL gap, and the gain over reverse diffusion
  with summed scores (reverse's W2 over the sampler's);
- per factor, each learned model alone: W2 / floor of the default sampler and of reverse;
- per mixture: the error of the learned mixture's component weights, in points.

Writes robustness.json (after every row: an interrupted run resumes), robustness.md, .png.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from compgen.algebra import Component, Mixture
from compgen.checkpoint import load, save
from compgen.files import write_json
from compgen.metrics import grid_density
from compgen.models.diffusion import EnergyDiffusion
from compgen.models.gaussian_mixture import GaussianMixture
from compgen.tasks.results import earlier, finish, machine
from compgen.tasks.robustness.generator import Task, factor_pool, generate_tasks
from compgen.tasks.toy2d.fidelity import evaluate
from compgen.training import TRAIN_BATCH, TRAIN_STEPS, train

# (label, sampler, settings); "default" is what cg.sample uses when no sampler is named (annealed
# MALA, MCMC down to t = 0.05, reverse steps below); "rb" is the reverse_below switch level
SAMPLER_ROWS: list[tuple[str, str | None, dict]] = [
    ("reverse", "reverse", {}),
    ("default", None, {}),
    ("mala rb=0.02", "mala", {"reverse_below": 0.02}),
    ("hmc rb=0.05", "hmc", {"reverse_below": 0.05}),
]
TRAIN_SAMPLES = 20_000
LO, HI, RESOLUTION = -4.5, 4.5, 384


def learned_pool(pool: dict[str, GaussianMixture], models: Path, seed: int = 0,
                 progress: bool = True, **train_settings) -> tuple[dict[str, Component], dict]:
    """An EnergyDiffusion model of every factor, trained with ``cg.train``'s defaults (or
    ``train_settings``) and cached in ``models``. Returns the models and their training seconds."""
    models.mkdir(parents=True, exist_ok=True)
    effective = {"steps": TRAIN_STEPS, "batch_size": TRAIN_BATCH, **train_settings}  # the cache key
    tag = "".join(f"_{k}{v}" for k, v in sorted(effective.items()))
    learned, seconds = {}, {}
    for name, factor in tqdm(pool.items(), disable=not progress, desc="train factors"):
        path = models / f"{name}_seed{seed}{tag}.safetensors"
        if path.exists():
            learned[name] = load(path)
            continue
        data = factor.sample(TRAIN_SAMPLES, torch.Generator().manual_seed(seed + 1))
        start = time.perf_counter()
        model = train(EnergyDiffusion(dim=2, name=name, init_seed=seed), data, seed=seed,
                      progress=False, **train_settings)
        seconds[name] = time.perf_counter() - start
        save(model, path)
        learned[name] = model
    return learned, seconds


def judge(learned: Component, exact: Component, n: int, seed: int = 0,
          rows: list[tuple[str, str | None, dict]] = SAMPLER_ROWS) -> dict:
    """Every sampler row on ``learned``, judged against ``exact``'s grid reference (one run each,
    :func:`compgen.tasks.toy2d.fidelity.evaluate`), with the component weights of a mixture."""
    ref = grid_density(exact, lo=LO, hi=HI, resolution=RESOLUTION)
    floor = ref.noise_floor(n, torch.Generator().manual_seed(12345), repeats=3)
    out = {"floor": floor}
    for label, sampler, settings in rows:
        out[label], x = evaluate(learned, ref, floor, sampler, settings, n, seeds=1, first_seed=seed)
        if isinstance(exact, Mixture):
            out[label]["weight_error"] = _weight_error(exact, x)
    return out


def _weight_error(exact: Mixture, x: torch.Tensor) -> float:
    """|mean exact responsibility of component 0 over the samples - its weight|, in points.

    Exact samples have mean responsibility equal to the weight (in expectation), so this
    measures the learned mixture's error in how much mass each component gets."""
    resp = exact.responsibilities(x)[:, 0]
    return 100 * abs(resp.mean().item() - exact.log_weights[0].exp().item())


def run_robustness_benchmark(out: Path, models: Path, n: int = 2000, pool_size: int = 16, seed: int = 0,
                             tasks: int | None = None, rows: list | None = None,
                             train_settings: dict | None = None, progress: bool = True) -> dict:
    """The benchmark.

    Args:
        tasks: run only the first this many generated tasks (default: all).
        rows: sampler rows (default :data:`SAMPLER_ROWS`); must include "reverse" and "default".
        train_settings: overrides of ``cg.train``'s defaults for the factors (default: none).
    """
    rows = SAMPLER_ROWS if rows is None else rows
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pool = factor_pool(pool_size, seed)
    generated: list[Task] = generate_tasks(pool, seed)[:tasks]
    result = {"n": n, "pool_size": pool_size, "seed": seed, "train_samples": TRAIN_SAMPLES,
              "train_settings": train_settings or {},
              "samplers": [[label, sampler, settings] for label, sampler, settings in rows],
              "machine": machine()}
    old = earlier(out / "robustness.json", result, ["n", "pool_size", "seed", "samplers", "train_settings"])
    factors, tasks_done = old.get("factors", {}), old.get("tasks", {})
    learned, seconds = learned_pool(pool, models, seed, progress, **(train_settings or {}))
    result["train_seconds"] = {**old.get("train_seconds", {}), **{k: round(v, 1) for k, v in seconds.items()}}

    def save_partial() -> None:
        result.update(factors=factors, tasks=tasks_done, seconds=round(time.perf_counter() - start, 1),
                      complete=len(factors) == len(pool) and len(tasks_done) == len(generated))
        write_json(out / "robustness.json", result)

    single = [(label, s, kw) for label, s, kw in rows if label in ("reverse", "default")]
    for name in tqdm([f for f in pool if f not in factors], disable=not progress, desc="factors alone"):
        factors[name] = judge(learned[name], pool[name], n, seed, single)
        save_partial()
    for task in tqdm([t for t in generated if t.name not in tasks_done], disable=not progress, desc="tasks"):
        tasks_done[task.name] = {"kind": task.kind, "expression": task.expression,
                                 **judge(task.build(learned), task.build(pool), n, seed, rows)}
        save_partial()
    save_partial()  # also when every row was kept from an earlier run
    result["summary"] = summarize(factors, tasks_done, [label for label, _, _ in rows])
    return finish(out, "robustness", result, format_table(result["summary"]), plot)


def summarize(factors: dict, tasks: dict, labels: list[str]) -> dict:
    """Distributions over tasks per sampler row (``labels``): median and 10th / 90th percentiles
    of W2 / floor and of the gain over reverse, the fraction of tasks with gain >= 1.5 and with a
    loss (gain < 1)."""
    groups = {"products": [t for t in tasks.values() if t["kind"].startswith("product")],
              "all tasks": list(tasks.values())}
    summary: dict = {"groups": {}}
    for group, rows in groups.items():
        summary["groups"][group] = {"tasks": len(rows)}
        for label in labels:
            ratios = [r[label]["w2_over_floor"] for r in rows]
            gains = [r["reverse"]["w2_over_floor"] / r[label]["w2_over_floor"] for r in rows]
            summary["groups"][group][label] = {
                "median": _q(ratios, 0.5), "p10": _q(ratios, 0.1), "p90": _q(ratios, 0.9),
                "median_gain": _q(gains, 0.5), "gain_p10": _q(gains, 0.1), "gain_p90": _q(gains, 0.9),
                "gain_at_least_1.5": _frac([g >= 1.5 for g in gains]),
                "loss": _frac([g < 1.0 for g in gains]),
                "median_ll_gap": _q([r[label]["ll_gap"] for r in rows], 0.5)}
    ratio = [f["default"]["w2_over_floor"] / f["reverse"]["w2_over_floor"] for f in factors.values()]
    summary["factors_alone"] = {
        "factors": len(ratio), "within_1.2x_of_reverse": _frac([r <= 1.2 for r in ratio]),
        "median_ratio": _q(ratio, 0.5), "worst_ratio": max(ratio) if ratio else None,
        "median_default": _q([f["default"]["w2_over_floor"] for f in factors.values()], 0.5),
        "median_reverse": _q([f["reverse"]["w2_over_floor"] for f in factors.values()], 0.5)}
    mixtures = [t for t in tasks.values() if "weight_error" in t["default"]]
    summary["mixture_weights"] = {
        label: {"median_points": _q([t[label]["weight_error"] for t in mixtures], 0.5),
                "max_points": max((t[label]["weight_error"] for t in mixtures), default=None),
                "within_5_points": _frac([t[label]["weight_error"] <= 5 for t in mixtures])}
        for label in labels}
    return summary


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(torch.quantile(torch.tensor(values, dtype=torch.float64), q))


def _frac(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def format_table(summary: dict) -> str:
    lines = []
    for group, stats in summary["groups"].items():
        lines += [f"**{group}** ({stats['tasks']} tasks): W2 / noise floor and gain over reverse diffusion",
                  "", "| sampler | median W2/floor | p10 - p90 | median gain | gain p10 - p90 | "
                  "gain >= 1.5x | loses | median LL gap |", "|---|---|---|---|---|---|---|---|"]
        for label, s in stats.items():
            if label == "tasks":
                continue
            lines.append(f"| {label} | {s['median']:.2f} | {s['p10']:.2f} - {s['p90']:.2f} | "
                         f"{s['median_gain']:.2f} | {s['gain_p10']:.2f} - {s['gain_p90']:.2f} | "
                         f"{100 * s['gain_at_least_1.5']:.0f}% | {100 * s['loss']:.0f}% | "
                         f"{s['median_ll_gap']:+.2f} |")
        lines.append("")
    f = summary["factors_alone"]
    lines.append(f"**factors alone** ({f['factors']}): default sampler within 1.2x of reverse's W2 on "
                 f"{100 * f['within_1.2x_of_reverse']:.0f}%; median ratio {f['median_ratio']:.2f}, worst "
                 f"{f['worst_ratio']:.2f}; median W2/floor default {f['median_default']:.2f}, "
                 f"reverse {f['median_reverse']:.2f}")
    lines.append("")
    lines.append("**mixture component weights** (mixtures and nested tasks), error in points: " + "; ".join(
        f"{label} median {m['median_points']:.1f}, max {m['max_points']:.1f}, "
        f"{100 * m['within_5_points']:.0f}% within 5" for label, m in summary["mixture_weights"].items()
        if m["median_points"] is not None))
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Left: each task's W2 / floor, a sampler against reverse (log-log; below the diagonal is a
    gain). Right: the distribution of the gain over reverse per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(result["tasks"].values())
    labels = [label for label, _, _ in result["samplers"] if label != "reverse"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
    rev = [t["reverse"]["w2_over_floor"] for t in tasks]
    for i, label in enumerate(labels):
        ax.scatter(rev, [t[label]["w2_over_floor"] for t in tasks], s=14, color=f"C{i}", label=label)
        gains = sorted(r / t[label]["w2_over_floor"] for r, t in zip(rev, tasks, strict=True))
        bx.plot(gains, [(k + 1) / len(gains) for k in range(len(gains))], color=f"C{i}", label=label)
    lim = [min(rev + [1.0]) * 0.8, max(rev) * 1.5]
    ax.plot(lim, lim, "k--", lw=0.8, label="equal")
    ax.plot(lim, [v / 2 for v in lim], "k:", lw=0.8, label="2x better")
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("reverse diffusion, summed scores: W2 / floor"), ax.set_ylabel("sampler: W2 / floor")
    ax.set_title(f"{len(tasks)} generated tasks, learned factors", fontsize=9)
    ax.legend(fontsize=7)
    bx.axvline(1.0, color="k", lw=0.8), bx.axvline(1.5, color="k", ls=":", lw=0.8)
    bx.set_xscale("log")
    bx.set_xlabel("gain over reverse (reverse W2 / sampler W2)"), bx.set_ylabel("fraction of tasks")
    bx.set_title("cumulative distribution of the gain", fontsize=9)
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

