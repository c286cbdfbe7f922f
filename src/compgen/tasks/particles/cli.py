"""Interacting particles: ``compgen particles-data`` and ``compgen bench relations``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands

ORDER = 6  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "interacting particles (relational potentials)"
    cli.command("particles-data", particles_data, data_flags,
                help="simulate springs / charged particle systems to an .npz (states and true relations)")
    cli.command("train-relations", train_relations, train_flags,
                help="train relational potentials (encoder + edge energy) for --seconds; writes .safetensors")
    cli.benchmark("relations", relations, relations_flags,
                  help="relational potentials vs constant velocity and a monolithic predictor at equal "
                       "training time; relation recovery, swap, avoid-region and 6-8 particles "
                       "(~2 x --seconds)")
    cli.benchmark("relations-data", relations_data, relations_data_flags,
                  help="data efficiency: step-20 forecast MSE of both forecasters against the number of "
                       "training simulations, 3 seeds (~24 x --seconds)")


def data_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.particles.simulate import KINDS

    p.add_argument("--kind", choices=KINDS, default="springs")
    p.add_argument("--n", type=int, default=10_000, help="simulations")
    p.add_argument("--particles", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outputs/particles/springs.npz", help="the .npz to write")


def particles_data(args: argparse.Namespace) -> None:
    import numpy as np

    from compgen.files import atomic_path
    from compgen.tasks.particles.simulate import simulate

    sims = simulate(args.kind, args.n, particles=args.particles, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, states=sims.states, relations=sims.relations, kind=args.kind)
    print(f"wrote {out}: states {sims.states.shape} (simulation, frame, particle, x y vx vy), "
          f"relations {sims.relations.shape}")


def _training_flags(p: argparse.ArgumentParser, seconds: str) -> None:
    from compgen.tasks.particles.simulate import KINDS

    p.add_argument("--kind", choices=KINDS, default="springs")
    p.add_argument("--train-sims", type=int, default=10_000, help="training simulations")
    p.add_argument("--seconds", type=float, default=900, help=seconds)
    p.add_argument("--seed", type=int, default=0)


def train_flags(p: argparse.ArgumentParser) -> None:
    _training_flags(p, "training wall time")
    p.add_argument("--out", default=None,
                   help="checkpoint to write (default: data/particle_models/KIND.safetensors)")


def train_relations(args: argparse.Namespace) -> None:
    import torch

    from compgen.tasks.commands import save_with_record
    from compgen.tasks.particles.bench import BATCH, relational_model
    from compgen.tasks.particles.training import fit_forecaster, split

    out = Path(args.out or f"data/particle_models/{args.kind}.safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    train, speed = split(args.kind, args.train_sims, args.seed)
    torch.manual_seed(args.seed)  # the initial weights
    model = relational_model(args.kind, speed)
    report = fit_forecaster(model, train, args.seconds, batch_size=BATCH, seed=args.seed,
                            progress=not args.quiet)
    save_with_record(model, out, args, report["seconds"], kind=args.kind, steps=report["steps"],
                     train_simulations=args.train_sims, loss=report["loss"])
    print(f"forecast loss {report['loss']:.2e} after {report['steps']} steps")


def relations_flags(p: argparse.ArgumentParser) -> None:
    _training_flags(p, "training wall time of EACH forecaster")
    p.add_argument("--test-sims", type=int, default=1000, help="held-out simulations")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def relations(args: argparse.Namespace) -> dict:
    from compgen.tasks.particles.bench import run_relations

    if args.smoke:
        return run_relations(Path(args.out), args.kind, train_sims=200, test_sims=64, seconds=3,
                             seed=args.seed, progress=not args.quiet)
    return run_relations(Path(args.out), args.kind, train_sims=args.train_sims, test_sims=args.test_sims,
                         seconds=args.seconds, seed=args.seed, progress=not args.quiet)


def relations_data_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.particles.simulate import KINDS

    p.add_argument("--kind", choices=KINDS, default="springs")
    p.add_argument("--sizes", default="300,1000,3000,10000", help="training-set sizes, comma-separated")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=60, help="training wall time of each model per run")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def relations_data(args: argparse.Namespace) -> dict:
    from compgen.tasks.particles.bench import run_data_efficiency

    sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.smoke:
        return run_data_efficiency(Path(args.out), args.kind, sizes=(50, 100), seeds=(0,), seconds=1,
                                   test_sims=20, progress=not args.quiet)
    return run_data_efficiency(Path(args.out), args.kind, sizes=sizes, seeds=tuple(range(args.seeds)),
                               seconds=args.seconds, progress=not args.quiet)
