"""Discovered components: ``compgen bench discovery``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands

ORDER = 7  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "components discovered without labels (scene decomposition)"
    cli.benchmark("discovery", discovery, discovery_flags,
                  help="train a decomposition model (K latent-conditioned denoisers whose product is the "
                       "image) and measure reconstruction, FG-ARI and coverage on held-out scenes")


def discovery_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.decomposition.data import DATASETS

    p.add_argument("--dataset", choices=list(DATASETS), default="all")
    p.add_argument("--steps", type=int, default=6000, help="training steps (16 images each; ~0.5 s per step)")
    p.add_argument("--test", type=int, default=100, help="held-out scenes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def discovery(args: argparse.Namespace) -> dict:
    from compgen.tasks.decomposition.bench import run_discovery

    if args.smoke:
        return run_discovery(Path(args.out), args.dataset, steps=2, scenes=32, test=4, seed=args.seed,
                             levels=3, progress=not args.quiet)
    return run_discovery(Path(args.out), args.dataset, args.steps, test=args.test, seed=args.seed,
                         progress=not args.quiet)
