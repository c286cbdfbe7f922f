"""What a task plug-in gives the command line, and the helpers its commands share.

Each ``compgen.tasks.<name>.cli`` module has one function, ``register(cli: TaskCommands)``, that
declares the task's commands and benchmarks, each with its own flags::

    def register(cli: TaskCommands) -> None:
        cli.command("train", train, train_flags, help="train a 2D model on a named density")
        cli.benchmark("fidelity", fidelity, fidelity_flags, help="every sampler on the 2D tasks")

``compgen.cli`` gathers them; nothing else in the core knows a task's commands.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Flags = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One subcommand: ``run(args)`` after ``flags(parser)`` declared its arguments.

    A benchmark's ``run`` returns its result dict; the command line prints ``result["table"]``.
    """

    name: str
    run: Callable[[argparse.Namespace], object]
    flags: Flags
    help: str
    description: str | None = None


@dataclass
class TaskCommands:
    """The commands and benchmarks one task registers, under the task's title."""

    title: str
    commands: list[Command] = field(default_factory=list)
    benchmarks: list[Command] = field(default_factory=list)

    def command(self, name: str, run: Callable, flags: Flags, help: str,
                description: str | None = None) -> None:
        """Declare ``compgen NAME``."""
        self.commands.append(Command(name, run, flags, help, description))

    def benchmark(self, name: str, run: Callable, flags: Flags, help: str,
                  description: str | None = None) -> None:
        """Declare ``compgen bench NAME``; it gets ``--out`` (results folder) besides its flags."""
        self.benchmarks.append(Command(name, run, flags, help, description))


# What a user's mistake raises: the command line prints these as one line, not a traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, FloatingPointError)


def describe(err: BaseException) -> str:
    """The one-line message of a user error."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err)


def fail(message: str, status: int = 2):
    """Print ``error: message`` to stderr and exit with ``status``."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(status)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), the default torch thread count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_benchmark(benchmark: Command) -> Callable[[argparse.Namespace], None]:
    """A benchmark's run in its output folder (:func:`benchmark_folder`), then its table."""
    def run(args: argparse.Namespace) -> None:
        args.out = str(benchmark_folder(benchmark.name, args.out, args.force))
        print(benchmark.run(args)["table"])
        print(f"\nwrote {args.out}", file=sys.stderr)
    return run


def benchmark_folder(name: str, out: str | None, force: bool) -> Path:
    """Where a benchmark writes: ``out``, or a new ``outputs/bench/NAME/<time>`` folder.

    Refuses (ValueError) to write into a folder holding results of this benchmark that git
    tracks (e.g. ``benchmarks/results``) unless ``force``: a benchmark rewrites its files there.
    """
    if out is None:
        folder = Path("outputs") / "bench" / name / time.strftime("%Y%m%d-%H%M%S")
        while folder.exists():
            folder = folder.with_name(folder.name + "+")
        return folder
    folder, stem = Path(out), name.replace("-", "_")
    if not force and folder.is_dir():
        # only the folder's own files: a benchmark does not write into its subfolders
        tracked = [f for f in _tracked_files(folder) if "/" not in f and f.startswith(stem)]
        if tracked:
            raise ValueError(f"--out {out} holds results that git tracks ({', '.join(sorted(tracked)[:3])}"
                             f"{', ...' if len(tracked) > 3 else ''}); pass --force to overwrite them, or "
                             "leave out --out for a new folder under outputs/")
    return folder


def _tracked_files(folder: Path) -> list[str]:
    """Files in ``folder`` that git tracks ([] outside a repository or without git)."""
    try:
        done = subprocess.run(["git", "ls-files", "--", "."], cwd=folder, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return done.stdout.split() if done.returncode == 0 else []


def sampler_settings(pairs: list[str]) -> dict:
    """Parse ``--set KEY=VALUE`` sampler settings; values are read as JSON when they can be."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_sampler_flags(parser: argparse.ArgumentParser, default: str, choices: list[str] | None = None,
                      example: str = "--set levels=50 --set steps=8") -> None:
    """``--sampler`` (names from ``compgen.samplers.SAMPLERS`` unless ``choices``) and ``--set``."""
    from compgen.samplers import SAMPLERS

    names = choices or [name for name, cls in SAMPLERS.items() if not cls.discrete]
    parser.add_argument("--sampler", default=default, choices=names,
                        help=f"{', '.join(names)} (default {default})")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"sampler setting, e.g. {example}")


def command_line(args: argparse.Namespace) -> str:
    """The command line that produced ``args``, to record beside what it wrote."""
    return "compgen " + " ".join(shlex.quote(a) for a in args.argv)


def save_with_record(model, out: Path, args: argparse.Namespace, seconds: float, quiet: bool = False,
                     **fields) -> None:
    """Save the checkpoint and, beside it, a .json record of the command that made it."""
    import torch

    from compgen.checkpoint import save
    from compgen.files import write_json

    save(model, out)
    record = {"command": command_line(args),
              "samples": getattr(args, "samples", None), "steps": getattr(args, "steps", None),
              "seed": args.seed,
              "hidden": getattr(args, "hidden", None), **fields,
              "cpu_seconds": round(seconds, 1),
              "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}
    write_json(out.with_suffix(".json"), record)
    if not quiet:
        print(f"trained {model!r} in {seconds:.0f}s; wrote {out} and {out.with_suffix('.json')}")
