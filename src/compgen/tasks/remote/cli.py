"""Components on other machines: ``compgen serve`` and ``compgen bench remote``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands

ORDER = 10  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "remote components (Ray)"
    cli.command("serve", serve, serve_flags,
                help="host a checkpoint as a named component on a running Ray cluster, for "
                     "cg.remote_ref(NAME) in other processes",
                description="Start a detached, named Ray actor that loads MODEL.safetensors and evaluates "
                            "it for any process of the cluster: `cg.remote_ref(NAME)` composes it like a "
                            "local component. Start the cluster first (`ray start --head`); the actor "
                            "lives until the cluster stops or `ray.kill(ray.get_actor(NAME, "
                            "namespace='compgen'))`.")
    cli.benchmark("remote", remote_bench, remote_flags,
                  help="time per evaluation of 1 / 2 / 4 remote factors vs local ones: 2D MLP energies "
                       "and the image U-Net (~3 min)")
    cli.benchmark("silos", silos_bench, silos_flags,
                  help="data silos: site models composed on Ray workers vs one model trained by federated "
                       "averaging, exact W2 / LL on 2D products (~30 min)")


def serve_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a compgen checkpoint (.safetensors) readable on the cluster's machines")
    p.add_argument("--name", required=True, help="the name other processes find it by")
    p.add_argument("--address", default="auto", help="the Ray cluster (default: the one running here)")
    p.add_argument("--num-cpus", type=float, default=1,
                   help="CPUs the worker reserves (and its torch threads)")


def serve(args: argparse.Namespace) -> None:
    import ray

    from compgen.distributed import remote

    path = Path(args.model).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    component = remote(str(path), num_cpus=args.num_cpus, name=args.name, detached=True)
    print(f"serving {component!r} (dim {component.dim}) as {args.name!r}: cg.remote_ref({args.name!r})")


def remote_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chains", type=int, default=2000, help="chains of the 2D MLP product")
    p.add_argument("--calls", type=int, default=50, help="timed evaluations per row (the median is kept)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def remote_bench(args: argparse.Namespace) -> dict:
    from compgen.tasks.remote.bench import run_remote_benchmark

    return run_remote_benchmark(Path(args.out), chains=args.chains, calls=args.calls, smoke=args.smoke,
                                progress=not args.quiet)


def silos_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.remote.silos import SITES

    p.add_argument("--tasks", nargs="+", default=list(SITES), choices=list(SITES), help="2D products to run")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=5000, help="gradient steps per site, for every method")
    p.add_argument("--rounds", type=int, default=500,
                   help="FedAvg rounds (steps must be a multiple); few local steps between averages "
                        "keep the sites from drifting apart")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def silos_bench(args: argparse.Namespace) -> dict:
    from compgen.tasks.remote.silos import run_silos

    if args.smoke:
        return run_silos(Path(args.out), tasks=tuple(args.tasks[:1]), seeds=1, steps=100, rounds=5,
                         progress=not args.quiet)
    return run_silos(Path(args.out), tasks=tuple(args.tasks), seeds=args.seeds, steps=args.steps,
                     rounds=args.rounds, progress=not args.quiet)
