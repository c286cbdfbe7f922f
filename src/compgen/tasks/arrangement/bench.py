"""``compgen bench arrangement``: success rate against the number of objects, for the composed
constraint factors and three baselines, on the same random problems (factor models trained on
2-4 objects; problems of 2-8). A problem counts as solved when every constraint holds, every
object is in the tray and no two collide (exact geometry). Writes arrangement.{json,md,png}.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from compgen.files import write_json
from compgen.models.pretrained import load_pretrained
from compgen.tasks.arrangement.baselines import penalty_optimizer, rejection_sampling
from compgen.tasks.arrangement.factors import solve
from compgen.tasks.arrangement.problems import Problem, random_problem
from compgen.tasks.results import finish, machine

SIZES = tuple(range(2, 9))
CANDIDATES = 10


def methods(models: dict) -> dict[str, Callable[[Problem, int], list[dict]]]:
    """name -> (problem, seed) -> candidates ranked best first, each with "solved"."""
    return {
        "compgen (annealed MALA on the product)": lambda p, s: solve(p, models, CANDIDATES, "mala", s),
        "summed scores, reverse diffusion": lambda p, s: solve(p, models, CANDIDATES, "reverse", s),
        "penalties + L-BFGS, random restarts": lambda p, s: penalty_optimizer(p, CANDIDATES, seed=s),
        "rejection from the position prior": lambda p, s: rejection_sampling(p, CANDIDATES, seed=s),
    }


def run_arrangement_benchmark(out: Path, problems: int = 100, sizes: tuple[int, ...] = SIZES,
                              only: str | None = None, name: str = "arrangement",
                              progress: bool = True) -> dict:
    """Run every method (or those whose name contains ``only``) on ``problems`` random problems
    per size; writes ``name``.{json,md,png} under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    models = {net: load_pretrained(f"arrangement_{net}") for net in ("unary", "binary")}
    start = time.perf_counter()
    result: dict = {"problems_per_size": problems, "candidates": CANDIDATES, "sizes": list(sizes),
                    "methods": {}, "machine": machine()}
    runners = {k: v for k, v in methods(models).items() if only is None or only in k}
    if not runners:
        raise ValueError(f"no method name contains {only!r}; methods: {list(methods(models))}")
    bar = tqdm(total=len(runners) * len(sizes) * problems, disable=not progress, desc="arrangement")
    for method, run in runners.items():
        per_size = result["methods"][method] = {}
        for n in sizes:
            top1, best, seconds = [], [], []
            for k in range(problems):
                problem = random_problem(n, seed=10_000 * n + k)  # the same problems for every method
                t0 = time.perf_counter()
                ranked = run(problem, k)
                seconds.append(time.perf_counter() - t0)
                top1.append(ranked[0]["solved"])
                best.append(any(r["solved"] for r in ranked))
                bar.update()
            per_size[str(n)] = {"top1": sum(top1) / problems, "best_of_k": sum(best) / problems,
                                "seconds_median": statistics.median(seconds)}
            result["seconds"] = round(time.perf_counter() - start, 1)
            write_json(out / f"{name}.json", result)
    return finish(out, name, result, format_table(result), plot)


def format_table(result: dict) -> str:
    sizes = [str(n) for n in result["sizes"]]
    k = result["candidates"]
    lines = [f"Success rate, top-1 / best-of-{k}, over {result['problems_per_size']} problems per size "
             "(factor models trained on 2-4 objects); median seconds per problem at the largest size.", "",
             "| method | " + " | ".join(f"{n} objects" for n in sizes) + f" | s / problem ({sizes[-1]}) |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for name, per_size in result["methods"].items():
        cells = [f"{per_size[n]['top1']:.2f} / {per_size[n]['best_of_k']:.2f}" if n in per_size else ""
                 for n in sizes]
        last = per_size.get(sizes[-1], {}).get("seconds_median", float("nan"))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {last:.2f} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (name, per_size) in enumerate(result["methods"].items()):
        sizes = [int(n) for n in per_size]
        colour = f"C{i}"
        ax.plot(sizes, [v["best_of_k"] for v in per_size.values()], "-o", color=colour,
                label=f"{name}, best of {result['candidates']}")
        ax.plot(sizes, [v["top1"] for v in per_size.values()], "--", color=colour, alpha=0.6)
    ax.axvspan(1.5, 4.5, color="0.9", zorder=0, label="training sizes")
    ax.set_xlabel("objects")
    ax.set_ylabel("success rate (dashed: top-1)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
