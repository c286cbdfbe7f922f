"""Commands of the 2D proof suite: demo, train, sample; benchmarks fidelity and data-efficiency."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compgen.tasks.commands import TaskCommands, add_sampler_flags, sampler_settings, save_with_record

ORDER = 0  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "2D densities (the demo and the proof suite)"
    cli.command("demo", demo, demo_flags, help="the headline composition demo (a few minutes on CPU)")
    cli.command("train", train, train_flags, help="train a 2D diffusion model on a named density")
    cli.command("sample", sample, sample_flags, help="sample a composition expression, e.g. "
                '"(bars_h & bars_v) | ring"; write a PNG')
    cli.benchmark("fidelity", fidelity, fidelity_flags,
                  help="every continuous sampler on the 2D products, mixture and negation (~80 min)")
    cli.benchmark("data-efficiency", data_efficiency, data_efficiency_flags,
                  help="factor models vs one monolithic model at equal data (~45 min per task)")


def demo_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="outputs/demo", help="folder for demo.png and demo.json")
    p.add_argument("--n", type=int, default=2000, help="samples per run")
    p.add_argument("--seeds", type=int, default=1, help="repeats per row (W2 is the median)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def demo(args: argparse.Namespace) -> None:
    from compgen.tasks.toy2d.demo import run_demo

    result = run_demo(Path(args.out), n=args.n, seeds=args.seeds, smoke=args.smoke, progress=not args.quiet)
    print(result["table"])
    print(f"\nwrote {Path(args.out) / 'demo.png'} and {Path(args.out) / 'demo.json'}")


def train_flags(p: argparse.ArgumentParser) -> None:
    from compgen.data.toy2d import DENSITIES
    from compgen.tasks.toy2d.models import TRAIN_SAMPLES, TRAIN_STEPS

    p.add_argument("--density", required=True, choices=sorted(DENSITIES))
    p.add_argument("--kind", default="energy", choices=["energy", "score"],
                   help="energy: EnergyDiffusion (MH-capable); score: ScoreDiffusion")
    p.add_argument("--samples", type=int, default=TRAIN_SAMPLES, help="training set size")
    p.add_argument("--steps", type=int, default=TRAIN_STEPS, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=128, help="width of the network's hidden layers")
    p.add_argument("--layers", type=int, default=3, help="number of hidden layers")
    p.add_argument("--out", help="checkpoint path (.safetensors); a .json record goes beside it")


def train(args: argparse.Namespace) -> None:
    from compgen.tasks.toy2d.models import train_density_model

    model, seconds = train_density_model(args.density, args.kind, n=args.samples, steps=args.steps,
                                         seed=args.seed, hidden=args.hidden, layers=args.layers,
                                         progress=not args.quiet)
    out = Path(args.out or f"{args.density}{'' if args.kind == 'energy' else '_score'}.safetensors")
    save_with_record(model, out, args, seconds, density=args.density, kind=args.kind, layers=args.layers)


def sample_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("expression", help='e.g. "(bars_h & bars_v) | ring" or "ring & corner ** -0.5"')
    p.add_argument("--components", default="energy", choices=["analytic", "energy", "score"],
                   help="what the names mean: exact densities or the shipped learned models")
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                   help="add or replace a named component with a checkpoint")
    add_sampler_flags(p, default="mala")
    p.add_argument("--n", type=int, default=2000, help="samples (chains)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="PNG of the samples (beside the exact density when known)")


def sample(args: argparse.Namespace) -> None:
    import torch

    from compgen.checkpoint import load
    from compgen.expression import parse
    from compgen.samplers import sample
    from compgen.tasks.toy2d import models

    named = models.components(args.components)
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep:
            raise ValueError(f"--model expects NAME=PATH, got {spec!r}")
        named[name] = load(path)
    composition = parse(args.expression, named)
    result = sample(composition, args.n, args.sampler, generator=torch.Generator().manual_seed(args.seed),
                    progress=not args.quiet, **sampler_settings(args.set))
    print(f"{composition!r}: {result.summary()}")
    for warning in result.diagnostics():  # an unreliable run is never reported silently
        print(f"warning: {warning}", file=sys.stderr)
    panels = [(f"{args.sampler}: {composition!r}", result.x)]
    if not args.model:  # every name is a toy density, so the exact composition is known
        panels.insert(0, ("exact", _compare_with_exact(args, result.x)))
    if args.out:
        from compgen.tasks.toy2d.plots import sample_grid

        sample_grid([panels], Path(args.out))
        print(f"wrote {args.out}")


def _compare_with_exact(args: argparse.Namespace, x):
    """Print exact-LL and W2 of ``x`` against the grid-normalized exact composition; return it."""
    import torch

    from compgen.expression import parse
    from compgen.metrics import grid_density, log_likelihood, w2
    from compgen.tasks.toy2d import models

    ref = grid_density(parse(args.expression, models.components("analytic")), lo=-4.5, hi=4.5)
    floor = ref.noise_floor(args.n, torch.Generator().manual_seed(1))
    dist = w2(x, ref.sample(args.n, torch.Generator().manual_seed(2)))
    print(f"exact-LL {log_likelihood(x, ref):.3f} (exact samples: {ref.expected_log_prob():.3f}), "
          f"W2 {dist:.3f} (noise floor {floor:.3f})")
    return ref


def fidelity_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=2000, help="samples (chains) per run")
    p.add_argument("--seeds", type=int, default=3, help="repeats per row (learned components)")
    p.add_argument("--analytic-seeds", type=int, default=8,
                   help="repeats per row with analytic components (cheap, so more)")
    p.add_argument("--tasks", nargs="+", help="rerun only these tasks, keeping the others' rows")
    p.add_argument("--kinds", nargs="+", choices=["analytic", "energy", "score"],
                   help="rerun only these component kinds, keeping the other rows")


def fidelity(args: argparse.Namespace) -> dict:
    from compgen.tasks.toy2d.fidelity_bench import run_fidelity_benchmark

    return run_fidelity_benchmark(Path(args.out), n=args.n, seeds=args.seeds,
                                  analytic_seeds=args.analytic_seeds, tasks=args.tasks, kinds=args.kinds,
                                  progress=not args.quiet)


def data_efficiency_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", nargs="+", default=["product", "mixture"],
                   help="tasks to run (one process each can run in parallel)")
    p.add_argument("--seeds", type=int, default=3, help="repeats per data size")
    p.add_argument("--steps", type=int, default=8000, help="training steps per model")


def data_efficiency(args: argparse.Namespace) -> dict:
    from compgen.tasks.toy2d.data_efficiency import run_data_efficiency

    return run_data_efficiency(Path(args.out), tasks=tuple(args.tasks), seeds=args.seeds, steps=args.steps,
                               progress=not args.quiet)
