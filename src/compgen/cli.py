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

from compgen.tasks.commands import (
    USER_ERRORS,
    Command,
    TaskCommands,
    available_cores,
    describe,
    fail,
    run_benchmark,
)

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


def _add(sub, command: Command, common: list[tuple[tuple, dict]], flags: bool) -> None:
    parser = sub.add_parser(command.name, description=command.description or command.help)
    if flags:  # a command's flags may import its task (and PyTorch): only for the one that runs
        command.flags(parser)
        for names, options in common:
            parser.add_argument(*names, **options)
    parser.set_defaults(func=command.run)


def _chosen(argv: list[str] | None) -> list[str] | None:
    """The command words of ``argv`` (``["train"]``, ``["bench", "fidelity"]``); None: all."""
    if argv is None:
        return None
    words = [a for a in argv if not a.startswith("-")]
    return words[:2] if words[:1] == ["bench"] else words[:1]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every task's commands, and of `bench` over every task's benchmarks; given
    the ``argv`` it will parse, only the chosen command's flags are built (a fast `--help`)."""
    chosen = _chosen(argv)
    tasks = task_commands()
    commands = [(t.title, t.commands) for t in tasks]
    benchmarks = [(t.title, t.benchmarks) for t in tasks]
    parser = argparse.ArgumentParser(
        prog="compgen", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_listing(commands) + f"\n{BENCH}\n\n" + _listing(benchmarks, "bench "))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="one of the commands below")
    common = [(("--quiet",), {"action": "store_true", "help": "no progress bars"}),
              (("--threads",), {"type": int, "default": available_cores(),
                                "help": "torch threads (default: the cores this process may use)"}),
              (("--debug",), {"action": "store_true", "help": "show the traceback of an error"})]
    for _, group in commands:
        for command in group:
            _add(sub, command, common, chosen in (None, [command.name]))
    bench_parser = sub.add_parser("bench", description=BENCH + "\n\n" + _listing(benchmarks),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    which = bench_parser.add_subparsers(dest="which", required=True, metavar="BENCHMARK",
                                        help="one of the benchmarks below")
    out = [(("--out",), {"help": "folder for the JSON, Markdown and PNG (default: a new folder under "
                                 "outputs/bench/NAME/)"}),
           (("--force",), {"action": "store_true", "help": "overwrite results tracked by git in --out"})]
    for _, group in benchmarks:
        for b in group:
            _add(which, Command(b.name, run_benchmark(b), b.flags, b.help, b.description), out + common,
                 chosen in (None, ["bench", b.name]))
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the process's arguments) and run the command. A user's mistake
    (bad argument or file, unknown model, non-normalizable expression, ...) and Ctrl-C end with
    one line ``error: ...`` and exit status 2 (130 for Ctrl-C); ``--debug`` shows the traceback."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    args.argv = argv
    import torch  # after parsing: `--help` never waits for it

    from compgen.allocator import keep_freed_memory

    keep_freed_memory()
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        fail("interrupted; files are written atomically, so nothing is left half-written", 130)
    except USER_ERRORS as err:
        if args.debug:
            raise
        fail(describe(err), 2)
    finally:  # a caller in the same process (a notebook, the tests) keeps its own setting
        torch.set_num_threads(previous)


if __name__ == "__main__":
    main()
