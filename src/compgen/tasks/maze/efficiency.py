"""``compgen bench maze-efficiency``: does a trajectory model factorized over time learn the
dynamics from less data and fewer iterations than one monolithic model over the horizon?

Both use the same temporal U-Net (same parameters: the network is convolutional and its energy a
sum over steps); only the horizon it is trained on differs. The factorized prior over
``HORIZON`` steps is the product of ``WINDOW``-step models at stride WINDOW/2 divided by a
WINDOW/2-step overlap model; the monolithic one is a single model over ``HORIZON`` steps. Each
is trained on the first N episodes (1000 steps each) of the U-maze data set, snapshots are
taken at several iteration counts of one cosine-schedule run, and each snapshot samples
trajectories from states of held-out episodes (the last ``HELD_OUT`` episodes) with the same
annealed MALA. Accuracy is measured in MuJoCo by :func:`dynamics_error`.
Writes maze_efficiency.{json,md,png}; the JSON after every (episodes, seed), and a rerun into the
same folder with the same settings keeps the runs it finds there (so it resumes, or adds data
sizes and seeds to the earlier ones).
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from compgen.files import write_json
from compgen.tasks.maze.planning import pinned, sample_given
from compgen.tasks.maze.pointmaze import load_dataset, make_env
from compgen.tasks.maze.trajectories import (
    Normalizer,
    dynamics_error,
    factorized,
    monolithic,
    steps_of,
    trajectory_model,
    windows,
)
from compgen.tasks.results import earlier, finish, machine, mean_std
from compgen.training import train

EPISODES = (1, 5, 20)
ITERATIONS = (250, 500, 1000)
SEEDS = (0, 1)
HORIZON, WINDOW = 32, 8
WIDTH, DEPTH = 16, 2
HELD_OUT = 100  # episodes never trained on; starts come from them
STARTS, PER_START = 6, 4
SAMPLER = {"levels": 20, "steps": 6}


def held_out_starts(steps: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` states (x, y, vx, vy) at random times of the last HELD_OUT episodes: (n, 4)."""
    rng = np.random.default_rng(seed)
    episodes = rng.integers(len(steps) - HELD_OUT, len(steps), n)
    times = rng.integers(0, steps.shape[1] - HORIZON, n)
    return steps[episodes, times, :4]


def rollouts(prior, normalizer: Normalizer, starts: np.ndarray, seed: int) -> torch.Tensor:
    """PER_START trajectories from each start (clamped), sampled with annealed MALA and
    denoised: (len(starts) * PER_START, HORIZON, CHANNELS) in simulator units."""
    out = []
    for k, start in enumerate(starts):
        indices, values = pinned(normalizer, [0], start, slice(0, 4))
        x, _ = sample_given(prior, indices, values, PER_START, "mala",
                            torch.Generator().manual_seed(seed + k), **SAMPLER)
        out.append(normalizer.decode(x))
    return torch.cat(out)


def _train_snapshots(steps: np.ndarray, horizon: int, normalizer: Normalizer, iterations, seed: int,
                     progress: bool) -> tuple[dict, float]:
    """One training run; EMA snapshots at each of ``iterations``. Returns them and CPU seconds."""
    model = trajectory_model(horizon, WIDTH, DEPTH, seed=seed)
    snapshots = {}

    def keep(step, ema):
        if step in iterations:
            snapshots[step] = copy.deepcopy(ema).requires_grad_(False)

    start = time.process_time()
    train(model, windows(steps, horizon, normalizer), steps=max(iterations), batch_size=128,
          seed=seed, progress=progress, callback=keep)
    return snapshots, time.process_time() - start


def run_maze_efficiency(out: Path, data: Path, episodes=EPISODES, iterations=ITERATIONS,
                        seeds=SEEDS, progress: bool = True) -> dict:
    """Train and evaluate both priors for every (episodes, seed); see the module docstring."""
    out.mkdir(parents=True, exist_ok=True)
    all_steps = steps_of(load_dataset(Path(data) / "umaze.npz"))
    if max(episodes) > len(all_steps) - HELD_OUT:
        raise ValueError(f"episodes: at most {len(all_steps) - HELD_OUT} (the last {HELD_OUT} of "
                         f"{len(all_steps)} are held out), got {max(episodes)}")
    normalizer = Normalizer.fit(all_steps[:-HELD_OUT])  # fixed, so every model sees the same units
    env = make_env("umaze")
    starts = held_out_starts(all_steps, STARTS, seed=0)
    result = {"horizon": HORIZON, "window": WINDOW, "width": WIDTH, "depth": DEPTH,
              "episode_steps": int(all_steps.shape[1]), "starts": STARTS, "per_start": PER_START,
              "sampler": {"name": "mala", **SAMPLER}, "machine": machine(), "runs": []}
    params = sum(p.numel() for p in trajectory_model(HORIZON, WIDTH, DEPTH).parameters())
    result["parameters_per_network"] = params
    result["runs"] = _earlier_runs(out / "maze_efficiency.json", result, iterations)
    done = {(r["episodes"], r["seed"]) for r in result["runs"]}
    runs = [(n, s) for n in episodes for s in seeds if (n, s) not in done]
    for n, seed in tqdm(runs, disable=not progress, desc="maze efficiency"):
        subset = all_steps[:n]
        win, t_win = _train_snapshots(subset, WINDOW, normalizer, iterations, seed, False)
        ovl, t_ovl = _train_snapshots(subset, WINDOW // 2, normalizer, iterations, seed, False)
        mono, t_mono = _train_snapshots(subset, HORIZON, normalizer, iterations, seed, False)
        for it in iterations:
            share = it / max(iterations)  # CPU time up to this snapshot
            priors = {"factorized": (factorized(win[it], ovl[it], HORIZON), (t_win + t_ovl) * share),
                      "monolithic": (monolithic(mono[it]), t_mono * share)}
            for kind, (prior, cpu) in priors.items():
                traj = rollouts(prior, normalizer, starts, seed=1000 * seed)
                row = {"kind": kind, "episodes": n, "seed": seed, "iterations": it,
                       "train_cpu_seconds": round(cpu, 1), **dynamics_error(env, traj)}
                result["runs"].append(row)
        write_json(out / "maze_efficiency.json", result)  # partial results survive an interruption
    result["summary"] = _summary(result["runs"])
    return finish(out, "maze_efficiency", result, _table(result), _plot)


def _earlier_runs(path: Path, result: dict, iterations) -> list[dict]:
    """Runs of an earlier benchmark into the same folder that used the same models, starts,
    sampler and iteration counts (any data sizes and seeds); [] otherwise."""
    same = ("horizon", "window", "width", "depth", "episode_steps", "starts", "per_start", "sampler")
    runs = earlier(path, result, same).get("runs", [])
    return runs if {r["iterations"] for r in runs} == set(iterations) else []


def _summary(runs: list[dict]) -> list[dict]:
    """Median and spread over seeds for each (kind, episodes, iterations)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["kind"], r["episodes"], r["iterations"]), []).append(r)
    rows = []
    for (kind, n, it), rs in sorted(groups.items()):
        row = {"kind": kind, "episodes": n, "iterations": it, "seeds": len(rs)}
        for key in ("position_error", "velocity_error", "in_wall"):
            values = [r[key] for r in rs]
            row[key] = statistics.mean(values)
            row[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["train_cpu_seconds"] = statistics.mean(r["train_cpu_seconds"] for r in rs)
        rows.append(row)
    return rows


def _table(result: dict) -> str:
    lines = [f"Factorized ({result['window']}-step windows) vs monolithic ({result['horizon']} steps) "
             f"temporal U-Net, {result['parameters_per_network']} parameters per network; "
             f"dynamics error of sampled {result['horizon']}-step trajectories from held-out states "
             "(mean ± std over seeds; one step moves about 0.04)", "",
             "| prior | episodes | iterations | position error | velocity error | in walls | train CPU s |",
             "|---|---|---|---|---|---|---|"]
    for r in result["summary"]:
        lines.append(f"| {r['kind']} | {r['episodes']} | {r['iterations']} | "
                     f"{mean_std(r['position_error'], r['position_error_std'], r['seeds'], '.4f')} | "
                     f"{mean_std(r['velocity_error'], r['velocity_error_std'], r['seeds'])} | "
                     f"{100 * r['in_wall']:.1f}% | {r['train_cpu_seconds']:.0f} |")
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["summary"]
    last = max(r["iterations"] for r in rows)
    most = max(r["episodes"] for r in rows)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for kind, color in (("factorized", "tab:blue"), ("monolithic", "tab:orange")):
        for ax, key, x_key, fixed in ((axes[0], "position_error", "episodes", ("iterations", last)),
                                      (axes[1], "in_wall", "episodes", ("iterations", last)),
                                      (axes[2], "position_error", "iterations", ("episodes", most))):
            sel = sorted((r for r in rows if r["kind"] == kind and r[fixed[0]] == fixed[1]),
                         key=lambda r: r[x_key])
            ax.errorbar([r[x_key] for r in sel], [r[key] for r in sel],
                        yerr=[r[key + "_std"] for r in sel], marker="o", capsize=3, color=color,
                        label=kind)
            ax.set_xscale("log")
            ax.set_xlabel(f"{x_key} ({fixed[0]} = {fixed[1]})")
            ax.set_ylabel(key.replace("_", " "))
    axes[0].set_title("next-position error vs data")
    axes[1].set_title("fraction of positions in walls vs data")
    axes[2].set_title("next-position error vs iterations")
    axes[0].legend()
    fig.suptitle(f"U-maze: {result['window']}-step factors vs one {result['horizon']}-step model")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
