"""The robustness benchmark's command: generated composition tasks of learned factors."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands

ORDER = 5  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "generated tasks (learned factors, exact references)"
    cli.benchmark("robustness", robustness, robustness_flags,
                  help="32 generated composition tasks over 16 random learned factors (products, mixtures, "
                  "negations, nested), every sampler against exact references (~40 min)")


def robustness_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="data/robustness_models", help="where the learned factors are cached")
    p.add_argument("--n", type=int, default=2000, help="samples (chains) per run")


def robustness(args: argparse.Namespace) -> dict:
    from compgen.tasks.robustness.bench import run_robustness_benchmark

    return run_robustness_benchmark(Path(args.out), Path(args.models), n=args.n, progress=not args.quiet)
