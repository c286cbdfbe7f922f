"""``compgen bench maze-planning``: plan by composition vs inpainting on the same models.

For each maze, ``n`` random (start cell, goal cell) pairs; the start is uniform within 0.25 of
its cell centre, at rest. Both methods sample CANDIDATES plans from the same factorized prior
(window model x overlap model over the maze's horizon), with the same seeds, keep the
lowest-energy one and execute it in MuJoCo with the same tracking controller for D4RL's episode
limit. Composition: annealed MALA on the prior conditioned on (clamped to) the start state and
the goal position over the last HOLD steps. Inpainting: reverse
diffusion on the prior, start and goal overwritten after every step (Diffuser's conditioning).
Composition + free space: the same, times a factor from the map that keeps every step out of
the walls (:func:`~compgen.tasks.maze.planning.free_space`), which inpainting cannot take.
No plan: the controller aims straight at the goal, which shows what planning adds.
Writes maze_planning.{json,md,png}; the JSON after every plan. A rerun into the same folder with
the same shared settings keeps the earlier runs of every method whose settings are unchanged
(more pairs extend them: pairs are drawn in order), and the earlier entries of mazes not rerun.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from compgen.files import write_json
from compgen.tasks.maze.planning import HOLD, HORIZONS, SETTINGS, execute, free_space, plan, start_state
from compgen.tasks.maze.pointmaze import MazeGrid, make_env
from compgen.tasks.maze.trajectories import factorized, load_trajectory_models
from compgen.tasks.results import earlier, finish, machine

MAZES = ("umaze", "medium", "large")
CANDIDATES = 2
METHODS = {"composition (annealed MALA)": {"method": "compose", "sampler": "mala"},
           "composition + free space (annealed MALA)": {"method": "compose", "sampler": "mala",
                                                        "free_space": True},
           "inpainting (reverse diffusion)": {"method": "inpaint"},
           "no plan (PD straight to the goal)": {}}  # what the controller does without a plan


def planning_setup(models: Path, maze: str):
    """The maze's environment, grid, factorized prior over HORIZONS[maze] (from
    ``{models}/{maze}_h16`` and ``_h8``), normalizer and the models' training records."""
    window, overlap, normalizer, trained_on, records = load_trajectory_models(
        models / f"{maze}_h16.safetensors", models / f"{maze}_h8.safetensors")
    if trained_on != maze:
        raise ValueError(f"{models}/{maze}_h16 was trained on {trained_on}, not {maze}")
    env = make_env(maze)
    return env, MazeGrid.from_env(env), factorized(window, overlap, HORIZONS[maze]), normalizer, records


def random_pairs(grid: MazeGrid, n: int, seed: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """``n`` (start cell, goal cell) pairs of distinct free cells."""
    rng = np.random.default_rng(seed)
    cells = grid.free_cells()
    pairs = []
    for _ in range(n):
        a, b = rng.choice(len(cells), 2, replace=False)
        pairs.append((cells[a], cells[b]))
    return pairs


def run_maze_planning(out: Path, models: Path, mazes=MAZES, n: int = 100, seed: int = 0,
                      progress: bool = True) -> dict:
    """Every method on ``n`` pairs per maze, models ``{models}/{maze}_h16`` and ``_h8``."""
    out.mkdir(parents=True, exist_ok=True)
    result = {"candidates": CANDIDATES, "hold": HOLD, "methods": METHODS, "settings": SETTINGS,
              "machine": machine()}
    # runs of unchanged methods are kept; so are the entries of mazes not rerun
    before = earlier(out / "maze_planning.json", result, ("candidates", "hold", "settings"))
    result["mazes"] = {m: entry for m, entry in before.get("mazes", {}).items() if m not in mazes}
    for maze in mazes:
        env, grid, prior, normalizer, records = planning_setup(Path(models), maze)
        horizon = HORIZONS[maze]
        entry = {"horizon": horizon, "pairs": n,
                 "training": [{k: r[k] for k in ("command", "steps", "cpu_seconds", "parameters")}
                              for r in records], "runs": {}}
        result["mazes"][maze] = entry
        rng = np.random.default_rng(seed)
        pairs = [(s, g, start_state(grid, s, rng)) for s, g in random_pairs(grid, n, seed)]
        for name, settings in METHODS.items():
            same = before.get("methods", {}).get(name) == settings
            old = before.get("mazes", {}).get(maze, {}).get("runs", {}).get(name, []) if same else []
            runs = entry["runs"][name] = _matching(old, pairs)
            settings = dict(settings)
            if settings.pop("free_space", False):
                settings["extra"] = free_space(normalizer, grid, horizon)
            bar = tqdm(total=n, initial=len(runs), disable=not progress, desc=f"{maze} {name}")
            for k in range(len(runs), n):
                s, g, start = pairs[k]
                goal = grid.cell_center(g)
                t0 = time.perf_counter()
                planned = (plan(prior, normalizer, start, goal, CANDIDATES, seed=seed + k, **settings)
                           if settings else torch.tensor(start, dtype=torch.float32)[None])
                seconds = time.perf_counter() - t0
                executed = execute(env, planned, start, goal, maze)
                runs.append({"start": list(s), "goal": list(g), "success": executed["success"],
                             "return": executed["return"], "score": executed["score"],
                             "plan_end_error": float(np.linalg.norm(planned[-1, :2].numpy() - goal)),
                             "seconds": seconds})
                write_json(out / "maze_planning.json", result)  # a rerun resumes from here
                bar.update()
            bar.close()
    result["mazes"] = {m: result["mazes"][m] for m in MAZES if m in result["mazes"]}
    result["summary"] = _summary(result)
    return finish(out, "maze_planning", result, _table(result), _plot)


def _matching(runs: list[dict], pairs: list) -> list[dict]:
    """The leading ``runs`` that were made on the leading ``pairs`` (same start and goal cells)."""
    kept = []
    for run, (s, g, _) in zip(runs, pairs, strict=False):
        if run["start"] != list(s) or run["goal"] != list(g):
            break
        kept.append(run)
    return kept


def _summary(result: dict) -> list[dict]:
    rows = []
    for maze, entry in result["mazes"].items():
        for name, runs in entry["runs"].items():
            scores = [r["score"] for r in runs]
            sem = statistics.stdev(scores) / len(scores) ** 0.5 if len(scores) > 1 else 0.0
            rows.append({"maze": maze, "method": name, "pairs": len(runs),
                         "success": statistics.mean(r["success"] for r in runs),
                         "score": statistics.mean(scores),
                         "score_sem": sem,
                         "median_seconds": statistics.median(r["seconds"] for r in runs),
                         "horizon": entry["horizon"],
                         "train_cpu_minutes": sum(t["cpu_seconds"] for t in entry["training"]) / 60,
                         "parameters": sum(t["parameters"] for t in entry["training"])})
    return rows


def _table(result: dict) -> str:
    lines = ["PointMaze-v3 (gymnasium-robotics' port of D4RL maze2d, not D4RL itself): success "
             "(within 0.5 of the goal within D4RL's episode limit) and D4RL-normalized score "
             "(mean ± s.e.m.), best of "
             f"{result['candidates']} plans; the same factorized models for every method", "",
             "| maze | method | pairs | success | normalized score | s / plan | horizon | "
             "training (CPU min, parameters) |", "|---|---|---|---|---|---|---|---|"]
    for r in result["summary"]:
        lines.append(f"| {r['maze']} | {r['method']} | {r['pairs']} | {100 * r['success']:.1f}% | "
                     f"{r['score']:.1f} ± {r['score_sem']:.1f} | {r['median_seconds']:.1f} | "
                     f"{r['horizon']} | {r['train_cpu_minutes']:.0f}, {r['parameters'] / 1e3:.0f}k |")
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["summary"]
    mazes = list(result["mazes"])
    methods = list(result["methods"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(methods)
    missing = {"success": np.nan, "score": np.nan, "score_sem": 0.0}  # a method not run on a maze
    for i, m in enumerate(methods):
        sel = [next((r for r in rows if r["maze"] == z and r["method"] == m), missing) for z in mazes]
        x = np.arange(len(mazes)) + (i - (len(methods) - 1) / 2) * width
        axes[0].bar(x, [100 * r["success"] for r in sel], width, label=m)
        axes[1].bar(x, [r["score"] for r in sel], width, yerr=[r["score_sem"] for r in sel],
                    capsize=3, label=m)
    for ax, label in zip(axes, ("success (%)", "D4RL-normalized score"), strict=True):
        ax.set_xticks(range(len(mazes)), mazes)
        ax.set_ylabel(label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8)  # off the bars
    fig.suptitle("Planning in PointMaze-v3: composition vs inpainting (same models)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
