"""The ``compgen`` command line: a short loop over the task plug-ins.

Each task folder has a ``cli`` module whose ``register(cli)`` declares its commands and
benchmarks (see :mod:`compgen.tasks.commands`); this file finds them, parses the command line
and turns the user's mistakes into one-line errors. Adding a task touches only its own folder.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import sys
import textwrap

from compgen.tasks.commands import Command, TaskCommands

DESCRIPTION = """\
compgen: compose small generative models (product &, mixture |, negation ~, power **)
and sample the composition correctly with annealed MCMC. Run it as `python -m compgen`
(in bash a bare `compgen` is a shell builtin); `python -m compgen COMMAND --help` explains one.
"""
BENCH = "Benchmarks (`bench NAME`) write NAME.json, NAME.md and NAME.png under --out."


def task_commands() -> list[TaskCommands]:
    """The commands of every task folder with a ``cli`` module, ordered by its ``ORDER``."""
    import compgen.tasks

    modules = []
    for task in pkgutil.iter_modules(compgen.tasks.__path__):
        if task.ispkg and importlib.util.find_spec(f"compgen.tasks.{task.name}.cli") is not None:
            modules.append(importlib.import_module(f"compgen.tasks.{task.name}.cli"))
    found = []
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        cli = TaskCommands(title=module.__name__.split(".")[-2])
        module.register(cli)
        found.append(cli)
    return found


def _listing(groups: list[tuple[str, list[Command]]], prefix: str = "") -> str:
    """Commands grouped under their task, one line each: what `--help` prints."""
    width = max(len(prefix + c.name) for _, commands in groups for c in commands) + 4
    lines = []
    for title, commands in groups:
        if commands:
            lines.append(f"{title}:")
            lines += [textwrap.fill(c.help, 100, initial_indent=f"  {prefix + c.name:<{width - 2}}",
                                    subsequent_indent=" " * width) for c in commands]
            lines.append("")
    return "\n".join(lines)


def _add(sub, command: Command, common: list[tuple[tuple, dict]]) -> None:
    parser = sub.add_parser(command.name, description=command.description or command.help,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    command.flags(parser)
    for names, options in common:
        parser.add_argument(*names, **options)
    parser.set_defaults(func=command.run)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every task's commands, and of `bench` over every task's benchmarks."""
    tasks = task_commands()
    commands = [(t.title, t.commands) for t in tasks]
    benchmarks = [(t.title, t.benchmarks) for t in tasks]
    parser = argparse.ArgumentParser(
        prog="compgen", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_listing(commands) + f"\n{BENCH}\n\n" + _listing(benchmarks, "bench "))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of the commands below")
    quiet = (("--quiet",), {"action": "store_true", "help": "no progress bars"})
    for _, group in commands:
        for command in group:
            _add(sub, command, [quiet])
    bench_parser = sub.add_parser("bench", description=BENCH + "\n\n" + _listing(benchmarks),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    which = bench_parser.add_subparsers(dest="which", required=True, metavar="BENCHMARK",
                                        help="one of the benchmarks below")
    out = (("--out",), {"default": "benchmarks/results", "help": "folder for the JSON, Markdown and PNG"})
    for _, group in benchmarks:
        for benchmark in group:
            _add(which, Command(benchmark.name, _printing(benchmark.run), benchmark.flags, benchmark.help,
                                benchmark.description), [out, quiet])
    return parser


def _printing(run):
    """A benchmark's run, then its table."""
    def run_and_print(args: argparse.Namespace) -> None:
        print(run(args)["table"])
    return run_and_print


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the process's arguments) and run the command."""
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
