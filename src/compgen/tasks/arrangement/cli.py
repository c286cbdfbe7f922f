"""Commands of object arrangement: arrange, arrange-problem, train-arrangement; benchmark
arrangement."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands, add_sampler_flags, sampler_settings, save_with_record

ARRANGE = ("Compose the shipped constraint factor models into one energy over all object positions and "
           "sample it; candidates are ranked by energy and checked exactly (every constraint, in the "
           "tray, no collisions).")


ORDER = 2  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "object arrangement (constraint satisfaction by composed factors)"
    cli.command("arrange", arrange, arrange_flags, help="solve an arrangement problem file; write a PNG",
                description=ARRANGE)
    cli.command("arrange-problem", arrange_problem, arrange_problem_flags,
                help="write a random solvable arrangement problem file")
    cli.command("train-arrangement", train_arrangement, train_arrangement_flags,
                help="train the arrangement constraint factor networks")
    cli.benchmark("arrangement", arrangement, arrangement_flags,
                  help="composed constraint factors vs three baselines, 2-8 objects")


def arrange_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("problem", help="problem JSON (see compgen.tasks.arrangement.problems)")
    p.add_argument("--candidates", type=int, default=10, help="samples drawn; best-of-k")
    add_sampler_flags(p, default="mala", example="--set levels=40")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="arrangement.png")


def arrange(args: argparse.Namespace) -> None:
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.arrangement.factors import solve
    from compgen.tasks.arrangement.plots import draw_arrangement
    from compgen.tasks.arrangement.problems import load_problem

    problem = load_problem(args.problem)
    models = {name: load_pretrained(f"arrangement_{name}") for name in ("unary", "binary")}
    ranked = solve(problem, models, candidates=args.candidates, sampler=args.sampler, seed=args.seed,
                   progress=not args.quiet, **sampler_settings(args.set))
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


def arrange_problem_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objects", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="problem.json")


def arrange_problem(args: argparse.Namespace) -> None:
    from compgen.files import write_json
    from compgen.tasks.arrangement.problems import random_problem

    problem = random_problem(args.objects, args.seed)
    write_json(args.out, problem.to_json())
    print(f"wrote {args.out}: {args.objects} objects, {len(problem.constraints)} constraints "
          "(with the known solution)")


def train_arrangement_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=20000, help="optimizer steps per network")
    p.add_argument("--scenes", type=int, default=20000, help="random solved scenes (2-4 objects) for data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=".", help="folder for arrangement_{unary,binary}.safetensors")


def train_arrangement(args: argparse.Namespace) -> None:
    from compgen.tasks.arrangement.factors import train_factor_models

    models, seconds = train_factor_models(steps=args.steps, scenes=args.scenes, seed=args.seed,
                                          progress=not args.quiet)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, model in models.items():
        save_with_record(model, out_dir / f"arrangement_{name}.safetensors", args, seconds[name],
                         scenes=args.scenes, network=name, hidden=model.hidden, layers=model.layers)


def arrangement_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--problems", type=int, default=100, help="random problems per number of objects")


def arrangement(args: argparse.Namespace) -> dict:
    from compgen.tasks.arrangement.bench import run_arrangement_benchmark

    return run_arrangement_benchmark(Path(args.out), problems=args.problems, progress=not args.quiet)
