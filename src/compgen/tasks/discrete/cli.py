"""Commands of discrete composition: discrete-demo, train-language; benchmarks languages and
discrete-mixing."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands, save_with_record

DEMO = ("The product of an autoregressive model of balanced brackets and one of strings containing ')(': "
        "the naive product of next-token conditionals against MH with one model as the proposal, measured "
        "against the exact product (length 8, enumerated) and by constraint satisfaction (length 24).")


ORDER = 1  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "discrete (autoregressive language models, RBM, Ising)"
    cli.command("discrete-demo", discrete_demo, discrete_demo_flags,
                help="compose two shipped language models; naive vs MH (~1 min)", description=DEMO)
    cli.command("train-language", train_language, train_language_flags,
                help="train an autoregressive model of a constraint language")
    cli.benchmark("languages", languages, languages_flags,
                  help="two autoregressive language models composed: naive vs MCMC (~20 min)")
    cli.benchmark("discrete-mixing", discrete_mixing, discrete_mixing_flags,
                  help="Gibbs vs Gibbs-with-Gradients vs MH on an RBM and an Ising lattice")


def discrete_demo_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="outputs/discrete-demo", help="folder for the PNG and JSON")
    p.add_argument("--n", type=int, default=2000, help="samples at length 8 (half as many at 24)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def discrete_demo(args: argparse.Namespace) -> None:
    from compgen.tasks.discrete.bench import ROWS, run_languages_benchmark

    rows = ROWS[:2] if args.smoke else ROWS[:3]  # naive, then MH: the fast rows
    result = run_languages_benchmark(Path(args.out), n=200 if args.smoke else args.n,
                                     n_long=100 if args.smoke else args.n // 2, seeds=1, rows=rows,
                                     name="discrete_demo", progress=not args.quiet)
    print(result["table"])
    print("\nexamples at length 24:")
    for row in result["rows"]:
        print(f"  {row['label']}: " + "  ".join(row["long"][0]["examples"][:3]))
    print(f"\nwrote {Path(args.out) / 'discrete_demo.png'} and {Path(args.out) / 'discrete_demo.json'}")


def train_language_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.discrete import models
    from compgen.tasks.discrete.languages import LANGUAGES

    p.add_argument("language", choices=LANGUAGES, help="balanced: balanced brackets; motif: contains ')('")
    p.add_argument("--samples", type=int, default=models.TRAIN_SAMPLES,
                   help=f"strings per length ({models.TRAIN_LENGTHS.start}-{models.MAX_LENGTH})")
    p.add_argument("--steps", type=int, default=models.TRAIN_STEPS, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=models.HIDDEN, help="GRU width")
    p.add_argument("--out", help="checkpoint path (.safetensors); a .json record goes beside it")


def train_language(args: argparse.Namespace) -> None:
    from compgen.tasks.discrete.models import train_language_model

    model, seconds = train_language_model(args.language, samples=args.samples, steps=args.steps,
                                          seed=args.seed, hidden=args.hidden, progress=not args.quiet)
    save_with_record(model, Path(args.out or f"{args.language}.safetensors"), args, seconds,
                     language=args.language)


def languages_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=5000, help="samples at length 8")
    p.add_argument("--seeds", type=int, default=3, help="repeats per row")


def languages(args: argparse.Namespace) -> dict:
    from compgen.tasks.discrete.bench import run_languages_benchmark

    return run_languages_benchmark(Path(args.out), n=args.n, seeds=args.seeds, progress=not args.quiet)


def discrete_mixing_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=300, help="chains per run")
    p.add_argument("--seeds", type=int, default=3, help="repeats per row")


def discrete_mixing(args: argparse.Namespace) -> dict:
    from compgen.tasks.discrete.mixing import run_mixing_benchmark

    return run_mixing_benchmark(Path(args.out), n=args.n, seeds=args.seeds, progress=not args.quiet)
