"""Commands of PointMaze planning: maze-data, train-maze, plan; benchmarks maze-efficiency,
maze-planning and maze-factors."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from compgen.tasks.commands import (
    TaskCommands,
    add_sampler_flags,
    command_line,
    sampler_settings,
    save_with_record,
)

MAZE_DATA = ("Roll out a shortest-path waypoint controller in gymnasium-robotics' PointMaze (a port of "
             "D4RL maze2d, not D4RL itself) toward random goals; writes OUT/MAZE.npz (observations, "
             "actions, goals, walls) and a .json record. Deterministic from --seed.")
TRAIN_MAZE = ("Energy-parameterized temporal U-Net over every HORIZON-step window of (x, y, vx, vy, ax, ay) "
              "in the first EPISODES episodes of a `maze-data` set. A short horizon makes a window "
              "model for the factorized product; the planning horizon makes a monolithic one.")
PLAN = ("Sample the trajectory prior (the product of a window model over the horizon, divided by its "
        "overlap model) conditioned on the start state and on the goal over the last 32 steps; execute "
        "the best plan in MuJoCo with a tracking controller; write a PNG of the maze with both paths. "
        "No training needed: the U-maze models ship.")
MODELS_HELP = "folder of MAZE_h16 / MAZE_h8 `train-maze` checkpoints"


ORDER = 3  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "PointMaze (trajectories factorized in time, planning by composition)"
    cli.command("maze-data", maze_data, maze_data_flags,
                help="generate D4RL-style PointMaze data sets (MuJoCo, offline)", description=MAZE_DATA)
    cli.command("train-maze", train_maze, train_maze_flags,
                help="train a trajectory model (temporal U-Net) on PointMaze data", description=TRAIN_MAZE)
    cli.command("plan", plan, plan_flags,
                help="plan in PointMaze by composing a trajectory model with start/goal", description=PLAN)
    cli.benchmark("maze-efficiency", maze_efficiency, maze_efficiency_flags,
                  help="time-factorized vs monolithic trajectory model over data and iterations "
                  "(needs `maze-data --maze umaze`; ~9 min per data size and seed)")
    cli.benchmark("maze-planning", maze_planning, maze_planning_flags,
                  help="plan by composition vs inpainting: success and normalized score per maze "
                  "(needs models from `train-maze`)")
    cli.benchmark("maze-factors", maze_factors, maze_factors_flags,
                  help="waypoint, region to avoid, one of two goals, by adding factors")


def maze_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--maze", default="all", choices=["umaze", "medium", "large", "all"])
    p.add_argument("--steps", type=int, help="steps per maze (default: D4RL's 1M / 2M / 4M)")
    p.add_argument("--episode-steps", type=int, default=1000, help="steps per episode (one start)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="data/pointmaze", help="output folder")


def maze_data(args: argparse.Namespace) -> None:
    from compgen.tasks.maze import pointmaze

    for maze in pointmaze.ENV_IDS if args.maze == "all" else [args.maze]:
        steps = args.steps or pointmaze.D4RL_STEPS[maze]
        episodes = -(-steps // args.episode_steps)  # ceil
        start = time.perf_counter()
        data = pointmaze.generate(maze, episodes, args.episode_steps, seed=args.seed, progress=not args.quiet)
        seconds = round(time.perf_counter() - start, 1)
        out = Path(args.out) / f"{maze}.npz"
        pointmaze.save_dataset(out, data, maze=maze, env=pointmaze.ENV_IDS[maze], seed=args.seed,
                               episodes=episodes, episode_steps=args.episode_steps, seconds=seconds,
                               command=command_line(args))
        print(f"{maze}: {episodes} x {args.episode_steps} steps in {seconds:.0f}s -> {out}")


def train_maze_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--maze", default="umaze", choices=["umaze", "medium", "large"])
    p.add_argument("--data", default="data/pointmaze", help="folder of `maze-data` output")
    p.add_argument("--horizon", type=int, default=16, help="steps per window")
    p.add_argument("--episodes", type=int, help="train on the first N episodes (default: all)")
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps")
    p.add_argument("--width", type=int, default=16, help="U-Net channels at the first level")
    p.add_argument("--depth", type=int, default=2, help="U-Net down-sampling levels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="checkpoint path (.safetensors; default data/maze_models/MAZE_hHORIZON, "
                   "where `bench maze-planning` looks); a .json record goes beside it")


def train_maze(args: argparse.Namespace) -> None:
    from compgen.tasks.maze.pointmaze import load_dataset
    from compgen.tasks.maze.trajectories import Normalizer, steps_of, train_trajectory_model

    data = load_dataset(Path(args.data) / f"{args.maze}.npz")
    normalizer = Normalizer.fit(steps_of(data))  # from the whole data set, shared by every model
    model, seconds = train_trajectory_model(
        steps_of(data, args.episodes), args.horizon, normalizer, args.steps, depth=args.depth,
        width=args.width, seed=args.seed, progress=not args.quiet, name=f"{args.maze}_h{args.horizon}")
    out = Path(args.out or f"data/maze_models/{args.maze}_h{args.horizon}.safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_with_record(model, out, args, seconds, maze=args.maze, episodes=args.episodes, horizon=args.horizon,
                     depth=args.depth, normalizer={"mean": normalizer.mean, "std": normalizer.std})


def plan_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window", help="window model (train-maze --horizon 16); default: "
                   "the shipped U-maze model")
    p.add_argument("--overlap", help="overlap model (train-maze --horizon 8); default: shipped")
    p.add_argument("--start", type=int, nargs=2, default=[3, 1], metavar=("ROW", "COL"))
    p.add_argument("--goal", type=int, nargs=2, default=[1, 1], metavar=("ROW", "COL"))
    p.add_argument("--horizon", type=int, help="planned steps (default: 192 / 320 / 512 by maze)")
    p.add_argument("--candidates", type=int, default=2, help="plans sampled; the lowest energy runs")
    p.add_argument("--method", default="compose", choices=["compose", "inpaint"],
                   help="compose: annealed MCMC on prior x start x goal; inpaint: Diffuser's baseline")
    add_sampler_flags(p, default="mala", example="--set levels=30 --set steps=8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="plan.png")


def plan(args: argparse.Namespace) -> None:
    import numpy as np

    from compgen.models.pretrained import WEIGHTS_DIR
    from compgen.tasks.maze.planning import HORIZONS, execute, plan
    from compgen.tasks.maze.plots import draw_plan
    from compgen.tasks.maze.pointmaze import MazeGrid, make_env
    from compgen.tasks.maze.trajectories import factorized, load_trajectory_models

    window, overlap = (Path(p) if p else WEIGHTS_DIR / f"maze_umaze_{kind}.safetensors"
                       for p, kind in ((args.window, "window"), (args.overlap, "overlap")))
    window, overlap, normalizer, maze, _ = load_trajectory_models(window, overlap)
    env = make_env(maze)
    grid = MazeGrid.from_env(env)
    start, goal = _start_and_goal(args, grid, maze, np.random.default_rng(args.seed))
    prior = factorized(window, overlap, args.horizon or HORIZONS[maze])
    planned = plan(prior, normalizer, start, goal, candidates=args.candidates, method=args.method,
                   sampler=args.sampler, seed=args.seed, **sampler_settings(args.set))
    result = execute(env, planned, start, goal, maze)
    title = (f"{maze}: success {result['success']}, return {result['return']}, "
             f"normalized score {result['score']:.0f}")
    draw_plan(grid, planned.numpy(), result["path"], start, goal, args.out, title)
    print(f"{title}; wrote {args.out}")


def _start_and_goal(args: argparse.Namespace, grid, maze: str, rng):
    """The start state (a random point of the start cell) and the goal cell's centre."""
    from compgen.tasks.maze.planning import start_state

    cells = {"start": tuple(args.start), "goal": tuple(args.goal)}
    for what, cell in cells.items():
        if cell not in grid.free_cells():
            raise ValueError(f"--{what} {cell[0]} {cell[1]} is not a free cell of {maze}; "
                             f"free cells: {grid.free_cells()}")
    return start_state(grid, cells["start"], rng), grid.cell_center(cells["goal"])


def maze_efficiency_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="data/pointmaze", help="`maze-data` folder")
    p.add_argument("--episodes", nargs="+", type=int, help="data sizes in episodes (default 1 5 20); "
                   "earlier runs in --out with the same settings are kept")


def maze_efficiency(args: argparse.Namespace) -> dict:
    from compgen.tasks.maze.efficiency import run_maze_efficiency

    sizes = {} if args.episodes is None else {"episodes": tuple(args.episodes)}
    return run_maze_efficiency(Path(args.out), Path(args.data), progress=not args.quiet, **sizes)


def maze_planning_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="data/maze_models", help=MODELS_HELP)
    p.add_argument("--mazes", nargs="+", default=["umaze", "medium", "large"])
    p.add_argument("--pairs", type=int, default=100, help="start/goal pairs per maze")


def maze_planning(args: argparse.Namespace) -> dict:
    from compgen.tasks.maze.planning_bench import run_maze_planning

    return run_maze_planning(Path(args.out), Path(args.models), mazes=tuple(args.mazes), n=args.pairs,
                             progress=not args.quiet)


def maze_factors_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="data/maze_models", help=MODELS_HELP)
    p.add_argument("--cases", type=int, default=20, help="random cases per task")


def maze_factors(args: argparse.Namespace) -> dict:
    from compgen.tasks.maze.factor_tasks import run_maze_factors

    return run_maze_factors(Path(args.out), Path(args.models), n=args.cases, progress=not args.quiet)
