"""The ``compgen`` command line: demo, train, sample, bench."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from compgen.files import write_json

DESCRIPTION = """\
compgen: compose small generative models (product &, mixture |, negation ~, power **)
and sample the composition correctly with annealed MCMC.

  compgen demo                         compose shipped 2D models, sample, print the fidelity table
  compgen train --density ring         train a 2D model on a named density
  compgen sample "(bars_h & bars_v)"   sample an expression, write a PNG
  compgen bench fidelity               the 2D sampler fidelity benchmark (JSON + PNG)
  compgen bench data-efficiency        factor models vs one monolithic model (JSON + PNG)
  compgen discrete-demo                compose two autoregressive language models: naive vs MH
  compgen bench languages              compose two autoregressive models: naive vs MCMC
  compgen bench discrete-mixing        Gibbs vs Gibbs-with-Gradients vs MH (RBM, Ising)
  compgen train-language balanced      train an autoregressive model of a constraint language
  compgen arrange problem.json         solve an object-arrangement problem by composing constraints
  compgen image "a red circle in the top left" "a blue square at the bottom"
                                       text-to-image by composing one factor per sentence (PNG)
  compgen tapestry [layout.json]       a wider canvas from per-window sentence products (PNG)
"""


BENCH_HELP = """\
  fidelity          every continuous sampler on the 2D products, mixture and negation (~80 min;
                    --tasks / --kinds rerun some tasks or component kinds, keeping the other rows)
  data-efficiency   factor models vs one monolithic model at equal data (~45 min per task)
  languages         two autoregressive language models composed: naive vs MCMC (~20 min)
  discrete-mixing   Gibbs vs Gibbs-with-Gradients vs MH on an RBM and an Ising lattice
  arrangement       constraint satisfaction by composed factors vs three baselines, 2-8 objects
                    (--n: problems per size)
  maze-efficiency   PointMaze: time-factorized vs monolithic trajectory model over data and
                    iterations (needs `compgen maze-data --maze umaze`; ~9 min per data size
                    and seed; --episodes adds data sizes to the runs already in --out)
  maze-planning     PointMaze: plan by composition vs inpainting, success and normalized score
                    per maze (needs models from `compgen train-maze`; --n: start/goal pairs)
  maze-factors      PointMaze: waypoint, region to avoid, one of two goals, by adding factors
  robustness        32 generated composition tasks over 16 random learned factors (products,
                    mixtures, negations, nested), every sampler against exact references (~40 min)
  images            text-to-image: composed sentence models vs the monolithic paragraph model,
                    1-4 objects, seen and held-out combinations; negation; tapestry (needs
                    `compgen train-images` for both kinds in --models; --n: prompts per cell)
"""


def _settings(pairs: list[str]) -> dict:
    """Parse KEY=VALUE sampler settings; values are read as JSON when they can be."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_demo(args: argparse.Namespace) -> None:
    from compgen.tasks.demo import run_demo

    result = run_demo(Path(args.out), n=args.n, seeds=args.seeds, smoke=args.smoke,
                      progress=not args.quiet)
    print(result["table"])
    print(f"\nwrote {Path(args.out) / 'demo.png'} and {Path(args.out) / 'demo.json'}")


def cmd_discrete_demo(args: argparse.Namespace) -> None:
    from compgen.tasks.languages_bench import ROWS, run_languages_benchmark

    rows = ROWS[:2] if args.smoke else ROWS[:3]  # naive, then MH: the fast rows
    result = run_languages_benchmark(Path(args.out), n=200 if args.smoke else args.n,
                                     n_long=100 if args.smoke else args.n // 2, seeds=1, rows=rows,
                                     name="discrete_demo", progress=not args.quiet)
    print(result["table"])
    print("\nexamples at length 24:")
    for row in result["rows"]:
        print(f"  {row['label']}: " + "  ".join(row["long"][0]["examples"][:3]))
    print(f"\nwrote {Path(args.out) / 'discrete_demo.png'} and {Path(args.out) / 'discrete_demo.json'}")


def cmd_arrange(args: argparse.Namespace) -> None:
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.arrangement.factors import solve
    from compgen.tasks.arrangement.plots import draw_arrangement
    from compgen.tasks.arrangement.problems import ProblemFileError, load_problem

    try:
        problem = load_problem(args.problem)
    except ProblemFileError as err:
        raise SystemExit(f"compgen arrange: {err}") from err
    models = {name: load_pretrained(f"arrangement_{name}") for name in ("unary", "binary")}
    ranked = solve(problem, models, candidates=args.candidates, sampler=args.sampler, seed=args.seed,
                   progress=not args.quiet, **_settings(args.set))
    solved = sum(r["solved"] for r in ranked)
    print(f"{len(problem.names)} objects, {len(problem.constraints)} constraints: {solved} of "
          f"{len(ranked)} candidates solve it; top-1 (lowest energy) "
          f"{'solves' if ranked[0]['solved'] else 'does not solve'} it")
    best = next((r for r in ranked if r["solved"]), ranked[0])
    for name, (x, y) in zip(problem.names, best["poses"], strict=True):
        print(f"  {name}: ({x:.3f}, {y:.3f})")
    draw_arrangement(problem, best["poses"], args.out,
                     f"{'solved' if best['solved'] else 'NOT solved'}, energy {best['energy']:.1f}")
    print(f"wrote {args.out}")


def cmd_arrange_problem(args: argparse.Namespace) -> None:
    from compgen.tasks.arrangement.problems import random_problem

    problem = random_problem(args.objects, args.seed)
    write_json(args.out, problem.to_json())
    print(f"wrote {args.out}: {args.objects} objects, {len(problem.constraints)} constraints "
          "(with the known solution)")


def cmd_train(args: argparse.Namespace) -> None:
    from compgen.tasks.toy2d import train_density_model

    model, seconds = train_density_model(args.density, args.kind, n=args.samples, steps=args.steps,
                                         seed=args.seed, hidden=args.hidden, layers=args.layers,
                                         progress=not args.quiet)
    out = Path(args.out or f"{args.density}{'' if args.kind == 'energy' else '_score'}.safetensors")
    _save_with_record(model, out, args, seconds, density=args.density, kind=args.kind,
                      layers=args.layers)


def cmd_train_language(args: argparse.Namespace) -> None:
    from compgen.tasks.languages import train_language_model

    model, seconds = train_language_model(args.language, samples=args.samples, steps=args.steps,
                                          seed=args.seed, hidden=args.hidden, progress=not args.quiet)
    _save_with_record(model, Path(args.out or f"{args.language}.safetensors"), args, seconds,
                      language=args.language)


def cmd_maze_data(args: argparse.Namespace) -> None:
    from compgen.data import pointmaze

    for maze in pointmaze.ENV_IDS if args.maze == "all" else [args.maze]:
        steps = args.steps or pointmaze.D4RL_STEPS[maze]
        episodes = -(-steps // args.episode_steps)  # ceil
        start = time.perf_counter()
        data = pointmaze.generate(maze, episodes, args.episode_steps, seed=args.seed,
                                  progress=not args.quiet)
        seconds = round(time.perf_counter() - start, 1)
        out = Path(args.out) / f"{maze}.npz"
        pointmaze.save_dataset(out, data, maze=maze, env=pointmaze.ENV_IDS[maze], seed=args.seed,
                               episodes=episodes, episode_steps=args.episode_steps, seconds=seconds,
                               command=_command(args))
        print(f"{maze}: {episodes} x {args.episode_steps} steps in {seconds:.0f}s -> {out}")


def cmd_train_maze(args: argparse.Namespace) -> None:
    from compgen.data.pointmaze import load_dataset
    from compgen.tasks.maze.trajectories import Normalizer, steps_of, train_trajectory_model

    data = load_dataset(Path(args.data) / f"{args.maze}.npz")
    normalizer = Normalizer.fit(steps_of(data))  # from the whole data set, shared by every model
    model, seconds = train_trajectory_model(
        steps_of(data, args.episodes), args.horizon, normalizer, args.steps, depth=args.depth,
        width=args.width, seed=args.seed, progress=not args.quiet,
        name=f"{args.maze}_h{args.horizon}")
    out = Path(args.out or f"data/maze_models/{args.maze}_h{args.horizon}.safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_with_record(model, out, args, seconds, maze=args.maze, episodes=args.episodes,
                      horizon=args.horizon, depth=args.depth,
                      normalizer={"mean": normalizer.mean, "std": normalizer.std})


def cmd_train_images(args: argparse.Namespace) -> None:
    from compgen.tasks.images.models import default_path, train_image_model

    out = Path(args.out or default_path(args.kind))
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def snapshot(step, ema):  # an interrupted run leaves a usable, honestly labelled model
        _save_with_record(ema, out, args, time.perf_counter() - started, kind=args.kind,
                          scenes=args.scenes, steps_done=step, quiet=True)

    model, seconds = train_image_model(args.kind, args.steps, args.scenes, args.seed,
                                       progress=not args.quiet, checkpoint=snapshot)
    _save_with_record(model, out, args, seconds, kind=args.kind, scenes=args.scenes, steps_done=args.steps)


def _image_model(path: str | None):
    from compgen.checkpoint import load
    from compgen.models.pretrained import WEIGHTS_DIR

    return load(Path(path) if path else WEIGHTS_DIR / "scenes_sentences.safetensors")


def cmd_image(args: argparse.Namespace) -> None:
    from compgen.data.scenes import parse
    from compgen.metrics.scenes import correct
    from compgen.tasks.images.generate import sample_images, sentence_product
    from compgen.tasks.images.plots import image_grid

    try:
        objects = [parse(s) for s in args.sentences]
        for s in args.negate:
            parse(s)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    composition = sentence_product(_image_model(args.model), args.sentences, args.weight,
                                   negatives=args.negate)
    images, result = sample_images(composition, args.n, args.sampler, seed=args.seed, progress=not args.quiet,
                                   **_settings(args.set))
    found = sum(correct(i, objects) for i in images.numpy())
    prompt = " and ".join(args.sentences) + "".join(f" and not {s}" for s in args.negate)
    image_grid([(f"{args.sampler}: {prompt}", images.numpy())], Path(args.out), scale=1.6)
    print(f"{prompt}\n{args.sampler}: {result.summary()}\n{found} of {args.n} images show every requested "
          f"object (detector); wrote {args.out}")


def cmd_tapestry(args: argparse.Namespace) -> None:
    from compgen.tasks.images.generate import sample_images
    from compgen.tasks.images.plots import image_grid
    from compgen.tasks.images.tapestry import Layout, region_correct, tapestry

    try:
        layout = Layout.from_json(args.layout) if args.layout else Layout.from_objects(
            24, 48, [("circle", "red", 0, 0), ("square", "blue", 2, 2), ("triangle", "yellow", 1, 4),
                     ("circle", "green", 2, 5)])
    except ValueError as err:
        raise SystemExit(str(err)) from None
    composition = tapestry(_image_model(args.model), layout, args.weight)
    images, result = sample_images(composition, args.n, args.sampler, seed=args.seed, progress=not args.quiet,
                                   canvas=(layout.height, layout.width), **_settings(args.set))
    ok = region_correct(images.numpy(), layout)
    for region, right in zip(layout.regions, ok.T, strict=True):
        print(f"window at (top {region.top}, left {region.left}): {int(right.sum())}/{args.n} correct: "
              + (" and ".join(region.sentences) or "(no sentences: unconditional)"))
    image_grid([(f"{args.sampler}: {len(layout.regions)} windows", images.numpy())], Path(args.out),
               scale=2.0)
    print(f"{args.sampler}: {result.summary()}\n{int(ok.all(1).sum())} of {args.n} canvases right in every "
          f"window; wrote {args.out}")


def cmd_plan(args: argparse.Namespace) -> None:
    from compgen.data.pointmaze import MazeGrid, make_env
    from compgen.models.pretrained import WEIGHTS_DIR
    from compgen.tasks.maze.planning import HORIZONS, execute, plan, start_state
    from compgen.tasks.maze.plots import draw_plan
    from compgen.tasks.maze.trajectories import factorized, load_trajectory_models

    window, overlap = (Path(p) if p else WEIGHTS_DIR / f"maze_umaze_{kind}.safetensors"
                       for p, kind in ((args.window, "window"), (args.overlap, "overlap")))
    window, overlap, normalizer, maze, _ = load_trajectory_models(window, overlap)
    env = make_env(maze)
    grid = MazeGrid.from_env(env)
    cells = {"start": tuple(args.start), "goal": tuple(args.goal)}
    for what, cell in cells.items():
        if cell not in grid.free_cells():
            raise SystemExit(f"--{what} {cell[0]} {cell[1]} is not a free cell of {maze}; "
                             f"free cells: {grid.free_cells()}")
    start = start_state(grid, cells["start"], np.random.default_rng(args.seed))
    goal = grid.cell_center(cells["goal"])
    prior = factorized(window, overlap, args.horizon or HORIZONS[maze])
    planned = plan(prior, normalizer, start, goal, candidates=args.candidates, method=args.method,
                   sampler=args.sampler, seed=args.seed, **_settings(args.set))
    result = execute(env, planned, start, goal, maze)
    title = (f"{maze}: success {result['success']}, return {result['return']}, "
             f"normalized score {result['score']:.0f}")
    draw_plan(grid, planned.numpy(), result["path"], start, goal, args.out, title)
    print(f"{title}; wrote {args.out}")


def cmd_train_arrangement(args: argparse.Namespace) -> None:
    from compgen.tasks.arrangement.factors import train_factor_models

    models, seconds = train_factor_models(steps=args.steps, scenes=args.scenes, seed=args.seed,
                                          progress=not args.quiet)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, model in models.items():
        _save_with_record(model, out_dir / f"arrangement_{name}.safetensors", args, seconds[name],
                          scenes=args.scenes, network=name, hidden=model.hidden, layers=model.layers)


def _command(args: argparse.Namespace) -> str:
    """The command line that produced ``args``, to record beside what it wrote."""
    return "compgen " + " ".join(shlex.quote(a) for a in args.argv)


def _save_with_record(model, out: Path, args: argparse.Namespace, seconds: float, quiet: bool = False,
                      **fields) -> None:
    """Save the checkpoint and, beside it, a .json record of the command that made it."""
    from compgen.checkpoint import save

    save(model, out)
    record = {"command": _command(args),
              "samples": getattr(args, "samples", None), "steps": args.steps, "seed": args.seed,
              "hidden": getattr(args, "hidden", None), **fields,
              "cpu_seconds": round(seconds, 1),
              "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}
    write_json(out.with_suffix(".json"), record)
    if not quiet:
        print(f"trained {model!r} in {seconds:.0f}s; wrote {out} and {out.with_suffix('.json')}")


def cmd_sample(args: argparse.Namespace) -> None:
    from compgen.checkpoint import load
    from compgen.expression import parse
    from compgen.metrics import grid_density, log_likelihood, w2
    from compgen.samplers import sample
    from compgen.tasks import toy2d
    from compgen.tasks.plots import sample_grid

    named = toy2d.components(args.components)
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep:
            raise SystemExit(f"--model expects NAME=PATH, got {spec!r}")
        named[name] = load(path)
    composition = parse(args.expression, named)
    result = sample(composition, args.n, args.sampler, generator=torch.Generator().manual_seed(args.seed),
                    progress=not args.quiet, **_settings(args.set))
    print(f"{composition!r}: {result.summary()}")
    for warning in result.diagnostics():  # an unreliable run is never reported silently
        print(f"warning: {warning}", file=sys.stderr)
    panels = [(f"{args.sampler}: {composition!r}", result.x)]
    if not args.model:  # every name is a toy density, so the exact composition is known
        ref = grid_density(parse(args.expression, toy2d.components("analytic")), lo=-4.5, hi=4.5)
        floor = ref.noise_floor(args.n, torch.Generator().manual_seed(1))
        dist = w2(result.x, ref.sample(args.n, torch.Generator().manual_seed(2)))
        print(f"exact-LL {log_likelihood(result.x, ref):.3f} (exact samples: {ref.expected_log_prob():.3f}), "
              f"W2 {dist:.3f} (noise floor {floor:.3f})")
        panels.insert(0, ("exact", ref))
    if args.out:
        sample_grid([panels], Path(args.out))
        print(f"wrote {args.out}")


def cmd_bench(args: argparse.Namespace) -> None:
    out, progress = Path(args.out), not args.quiet
    sizes = {} if args.n is None else {"n": args.n}
    if args.which == "fidelity":
        from compgen.tasks.fidelity_bench import run_fidelity_benchmark

        result = run_fidelity_benchmark(out, seeds=args.seeds, analytic_seeds=args.analytic_seeds,
                                        tasks=args.tasks, kinds=args.kinds, progress=progress, **sizes)
    elif args.which == "data-efficiency":
        from compgen.tasks.data_efficiency import run_data_efficiency

        result = run_data_efficiency(out, tasks=tuple(args.tasks or ("product", "mixture")),
                                     seeds=args.seeds, steps=args.steps,
                                     progress=progress)
    elif args.which == "arrangement":
        from compgen.tasks.arrangement.bench import run_arrangement_benchmark

        result = run_arrangement_benchmark(out, progress=progress,
                                           **({} if args.n is None else {"problems": args.n}))
    elif args.which == "maze-efficiency":
        from compgen.tasks.maze.efficiency import run_maze_efficiency

        result = run_maze_efficiency(out, Path(args.data), progress=progress,
                                     **({} if args.episodes is None else {"episodes": tuple(args.episodes)}))
    elif args.which == "maze-planning":
        from compgen.tasks.maze.planning_bench import run_maze_planning

        result = run_maze_planning(out, Path(args.models or "data/maze_models"), mazes=tuple(args.mazes),
                                   progress=progress, **({} if args.n is None else {"n": args.n}))
    elif args.which == "maze-factors":
        from compgen.tasks.maze.factor_tasks import run_maze_factors

        result = run_maze_factors(out, Path(args.models or "data/maze_models"), progress=progress,
                                  **({} if args.n is None else {"n": args.n}))
    elif args.which == "images":
        from compgen.tasks.images.bench import run_images_benchmark

        result = run_images_benchmark(out, Path(args.models or "data/image_models"), progress=progress,
                                      **({} if args.n is None else {"scenes": args.n}))
    elif args.which == "robustness":
        from compgen.tasks.robustness.bench import run_robustness_benchmark

        result = run_robustness_benchmark(out, Path(args.models or "data/robustness_models"),
                                          progress=progress, **sizes)
    elif args.which == "languages":
        from compgen.tasks.languages_bench import run_languages_benchmark

        result = run_languages_benchmark(out, seeds=args.seeds, progress=progress, **sizes)
    else:
        from compgen.tasks.mixing_bench import run_mixing_benchmark

        result = run_mixing_benchmark(out, seeds=args.seeds, progress=progress, **sizes)
    print(result["table"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compgen", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="the headline composition demo (a few minutes on CPU)")
    p.add_argument("--out", default="outputs/demo", help="folder for demo.png and demo.json")
    p.add_argument("--n", type=int, default=2000, help="samples per run")
    p.add_argument("--seeds", type=int, default=1, help="repeats per row (W2 is the median)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("discrete-demo", help="compose two shipped language models; naive vs MH (~1 min)",
                       description="The product of an autoregressive model of balanced brackets and "
                       "one of strings containing ')(': the naive product of next-token conditionals "
                       "against MH with one model as the proposal, measured against the exact product "
                       "(length 8, enumerated) and by constraint satisfaction (length 24).")
    p.add_argument("--out", default="outputs/discrete-demo", help="folder for the PNG and JSON")
    p.add_argument("--n", type=int, default=2000, help="samples at length 8 (half as many at 24)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")
    p.set_defaults(func=cmd_discrete_demo)

    from compgen.data.toy2d import DENSITIES
    from compgen.tasks.toy2d import TRAIN_SAMPLES, TRAIN_STEPS

    p = sub.add_parser("train", help="train a 2D diffusion model on a named density")
    p.add_argument("--density", required=True, choices=sorted(DENSITIES))
    p.add_argument("--kind", default="energy", choices=["energy", "score"],
                   help="energy: EnergyDiffusion (MH-capable); score: ScoreDiffusion")
    p.add_argument("--samples", type=int, default=TRAIN_SAMPLES, help="training set size")
    p.add_argument("--steps", type=int, default=TRAIN_STEPS, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=128, help="width of the network's hidden layers")
    p.add_argument("--layers", type=int, default=3, help="number of hidden layers")
    p.add_argument("--out", help="checkpoint path (.safetensors); a .json record goes beside it")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("maze-data", help="generate D4RL-style PointMaze data sets (MuJoCo, offline)",
                       description="Roll out a shortest-path waypoint controller in gymnasium-robotics' "
                       "PointMaze (a port of D4RL maze2d, not D4RL itself) toward random goals; "
                       "writes OUT/MAZE.npz (observations, actions, goals, walls) and a .json "
                       "record. Deterministic from --seed.")
    p.add_argument("--maze", default="all", choices=["umaze", "medium", "large", "all"])
    p.add_argument("--steps", type=int, help="steps per maze (default: D4RL's 1M / 2M / 4M)")
    p.add_argument("--episode-steps", type=int, default=1000, help="steps per episode (one start)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="data/pointmaze", help="output folder")
    p.set_defaults(func=cmd_maze_data)

    p = sub.add_parser("train-maze", help="train a trajectory model (temporal U-Net) on PointMaze data",
                       description="Energy-parameterized temporal U-Net over every HORIZON-step window "
                       "of (x, y, vx, vy, ax, ay) in the first EPISODES episodes of a `compgen "
                       "maze-data` set. A short horizon makes a window model for the factorized "
                       "product; the planning horizon makes a monolithic one.")
    p.add_argument("--maze", default="umaze", choices=["umaze", "medium", "large"])
    p.add_argument("--kinds", nargs="+", choices=["analytic", "energy", "score"],
                   help="fidelity: rerun only these component kinds, keeping the other rows")
    p.add_argument("--data", default="data/pointmaze", help="folder of `compgen maze-data` output")
    p.add_argument("--horizon", type=int, default=16, help="steps per window")
    p.add_argument("--episodes", type=int, help="train on the first N episodes (default: all)")
    p.add_argument("--steps", type=int, default=4000, help="optimizer steps")
    p.add_argument("--width", type=int, default=16, help="U-Net channels at the first level")
    p.add_argument("--depth", type=int, default=2, help="U-Net down-sampling levels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="checkpoint path (.safetensors; default data/maze_models/MAZE_hHORIZON, "
                   "where `bench maze-planning` looks); a .json record goes beside it")
    p.set_defaults(func=cmd_train_maze)

    p = sub.add_parser("train-images", help="train a text-conditioned image model on synthetic scenes",
                       description="A score network (diffusers UNet2DModel body, 24x24 RGB) conditioned on "
                       "MiniLM sentence embeddings. --kind sentences: each scene with ONE of its objects' "
                       "sentences (the factors `compgen image` composes); --kind paragraph: with the whole "
                       "scene's paragraph (the monolithic baseline). The checkpoint is rewritten every "
                       "500 steps, so an interrupted run leaves a usable model (its .json says how far).")
    p.add_argument("--kind", default="sentences", choices=["sentences", "paragraph"])
    p.add_argument("--steps", type=int, default=8000, help="training steps at batch 64")
    p.add_argument("--scenes", type=int, default=20000, help="training scenes (no red beside blue)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="checkpoint (.safetensors; default data/image_models/scenes_KIND)")
    p.set_defaults(func=cmd_train_images)

    p = sub.add_parser("plan", help="plan in PointMaze by composing a trajectory model with start/goal",
                       description="Sample the trajectory prior (the product of a window model over the "
                       "horizon, divided by its overlap model) conditioned on the start state and on "
                       "the goal over the last 32 steps; execute the best plan in MuJoCo with a "
                       "tracking controller; write a PNG of the maze with both paths. No training "
                       "needed: the U-maze models ship.")
    p.add_argument("--window", help="window model (compgen train-maze --horizon 16); default: "
                   "the shipped U-maze model")
    p.add_argument("--overlap", help="overlap model (compgen train-maze --horizon 8); default: shipped")
    p.add_argument("--start", type=int, nargs=2, default=[3, 1], metavar=("ROW", "COL"))
    p.add_argument("--goal", type=int, nargs=2, default=[1, 1], metavar=("ROW", "COL"))
    p.add_argument("--horizon", type=int, help="planned steps (default: 192 / 320 / 512 by maze)")
    p.add_argument("--candidates", type=int, default=2, help="plans sampled; the lowest energy runs")
    p.add_argument("--method", default="compose", choices=["compose", "inpaint"],
                   help="compose: annealed MCMC on prior x start x goal; inpaint: Diffuser's baseline")
    p.add_argument("--sampler", default="mala", help="annealed sampler for --method compose")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="sampler setting, e.g. --set levels=30 --set steps=8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="plan.png")
    p.set_defaults(func=cmd_plan)

    from compgen.data.languages import LANGUAGES
    from compgen.tasks import languages

    p = sub.add_parser("train-language", help="train an autoregressive model of a constraint language")
    p.add_argument("language", choices=LANGUAGES, help="balanced: balanced brackets; motif: contains ')('")
    p.add_argument("--samples", type=int, default=languages.TRAIN_SAMPLES,
                   help=f"strings per length ({languages.TRAIN_LENGTHS.start}-{languages.MAX_LENGTH})")
    p.add_argument("--steps", type=int, default=languages.TRAIN_STEPS, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=languages.HIDDEN, help="GRU width")
    p.add_argument("--out", help="checkpoint path (.safetensors); a .json record goes beside it")
    p.set_defaults(func=cmd_train_language)

    p = sub.add_parser("arrange", help="solve an arrangement problem file; write a PNG",
                       description="Compose the shipped constraint factor models into one energy over "
                       "all object positions and sample it; candidates are ranked by energy and checked "
                       "exactly (every constraint, in the tray, no collisions).")
    p.add_argument("problem", help="problem JSON (see compgen.tasks.arrangement.problems)")
    p.add_argument("--candidates", type=int, default=10, help="samples drawn; best-of-k")
    p.add_argument("--sampler", default="mala", help="annealed sampler: mala, hmc, ula, uhmc, reverse")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="sampler setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="arrangement.png")
    p.set_defaults(func=cmd_arrange)

    p = sub.add_parser("arrange-problem", help="write a random solvable arrangement problem file")
    p.add_argument("--objects", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="problem.json")
    p.set_defaults(func=cmd_arrange_problem)

    p = sub.add_parser("train-arrangement", help="train the arrangement constraint factor networks")
    p.add_argument("--steps", type=int, default=20000, help="optimizer steps per network")
    p.add_argument("--scenes", type=int, default=20000, help="random solved scenes (2-4 objects) for data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=".", help="folder for arrangement_{unary,binary}.safetensors")
    p.set_defaults(func=cmd_train_arrangement)

    image_help = ("Compose one factor per sentence of a sentence-level model (shipped: 24x24 scenes of "
                  "coloured shapes) with guidance, p(x) prod_i (p(x|t_i)/p(x))^w, all sentences in one "
                  "batched pass per step, and sample it. Sentences read 'a <red|green|blue|yellow> "
                  "<circle|square|triangle> <in the top left|at the top|...|in the center|...>'.")
    p = sub.add_parser("image", help="text-to-image by composing sentence factors; writes a PNG grid",
                       description=image_help)
    p.add_argument("sentences", nargs="+", help='e.g. "a red circle in the top left"')
    p.add_argument("--negate", action="append", default=[], metavar="SENTENCE",
                   help="an object that must not appear (a negative-weight factor)")
    p.add_argument("--out", default="image.png")
    for q in (p, tapestry_parser := sub.add_parser(
            "tapestry", help="a wider canvas from per-window sentence products; writes a PNG",
            description="Multiply per-window sentence products over overlapping 24x24 windows of a larger "
            "canvas and sample the product. The layout JSON is {\"height\": H, \"width\": W, \"regions\": "
            "[{\"top\": y, \"left\": x, \"sentences\": [...]}]}, windows starting on multiples of 8 pixels "
            "and sentences in each window's own places. Without a file: a 24x48 example.")):
        q.add_argument("--model", help="sentence model checkpoint (default: the shipped scenes_sentences)")
        q.add_argument("--n", type=int, default=8, help="images")
        q.add_argument("--sampler", default="ula", choices=["ula", "mala", "reverse"])
        q.add_argument("--weight", type=float, default=3.0, help="guidance weight per sentence")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="sampler setting, e.g. --set levels=20")
        q.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_image)
    tapestry_parser.add_argument("layout", nargs="?", help="layout JSON (default: a built-in example)")
    tapestry_parser.add_argument("--out", default="tapestry.png")
    tapestry_parser.set_defaults(func=cmd_tapestry)

    p = sub.add_parser("sample", help="sample a composition expression")
    p.add_argument("expression", help='e.g. "(bars_h & bars_v) | ring" or "ring & corner ** -0.5"')
    p.add_argument("--components", default="energy", choices=["analytic", "energy", "score"],
                   help="what the names mean: exact densities or the shipped learned models")
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                   help="add or replace a named component with a checkpoint")
    p.add_argument("--sampler", default="mala", help="reverse, reverse_repeat, ula, mala (default), uhmc, "
                   "hmc")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="sampler setting, e.g. --set levels=50 --set steps=8")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG of the samples (beside the exact density when known)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("bench", help="run a benchmark; writes JSON + PNG under --out",
                       description=BENCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("which", choices=["fidelity", "data-efficiency", "languages", "discrete-mixing",
                                     "arrangement", "maze-efficiency", "maze-planning", "maze-factors",
                                     "images", "robustness"])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--n", type=int, help="samples (chains) per run; default: the benchmark's own")
    p.add_argument("--seeds", type=int, default=3, help="repeats per row (learned components)")
    p.add_argument("--analytic-seeds", type=int, default=8,
                   help="repeats per row with analytic components (fidelity; cheap, so more)")
    p.add_argument("--steps", type=int, default=8000, help="training steps per model (data-efficiency)")
    p.add_argument("--tasks", nargs="+",
                   help="data-efficiency tasks (default: product mixture; one process each runs in "
                   "parallel); fidelity: rerun only these tasks, keeping the others' rows")
    p.add_argument("--kinds", nargs="+", choices=["analytic", "energy", "score"],
                   help="fidelity: rerun only these component kinds, keeping the other rows")
    p.add_argument("--data", default="data/pointmaze", help="`compgen maze-data` folder (maze benchmarks)")
    p.add_argument("--models", help="folder of MAZE_h16 / MAZE_h8 `compgen train-maze` checkpoints "
                   "(maze benchmarks; default data/maze_models) or of scenes_sentences / scenes_paragraph "
                   "`compgen train-images` checkpoints (images; default data/image_models); where "
                   "robustness caches its learned factors (default data/robustness_models)")
    p.add_argument("--mazes", nargs="+", default=["umaze", "medium", "large"], help="maze-planning mazes")
    p.add_argument("--episodes", nargs="+", type=int,
                   help="maze-efficiency data sizes in episodes (default 1 5 20); earlier runs in "
                   "--out with the same settings are kept")
    p.set_defaults(func=cmd_bench)

    for p in sub.choices.values():
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> None:
    from compgen.algebra import EnergyRequiredError
    from compgen.algebra.normalizer import NotNormalizableError
    from compgen.checkpoint import CheckpointError

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        args.func(args)
    except (NotNormalizableError, EnergyRequiredError, CheckpointError) as err:  # the user's input
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
