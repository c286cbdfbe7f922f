"""The speed suite's benchmark: ``compgen bench speed``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands

ORDER = 9  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "performance"
    cli.benchmark("speed", speed, speed_flags,
                  help="chain-steps/s against blackjax and hand-written torch; overhead, factors, memory "
                       "(~25 min)")


def speed_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chains", type=int, default=2000, help="chains of the analytic and learned 2D runs")
    p.add_argument("--repeats", type=int, default=3,
                   help="repeats of each analytic measurement (the median is kept)")
    p.add_argument("--dims", type=int, nargs="+", default=[2, 16, 64], choices=[2, 16, 64],
                   help="dimensions of the analytic products")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def speed(args: argparse.Namespace) -> dict:
    from compgen.tasks.speed.bench import run_speed_benchmark

    return run_speed_benchmark(Path(args.out), chains=args.chains, repeats=args.repeats,
                               dims=tuple(args.dims), smoke=args.smoke, progress=not args.quiet)
