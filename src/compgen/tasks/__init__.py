"""Tasks built on the core, one folder each: data, models, metrics, benchmarks and the commands
of a task (its ``cli.py`` registers them; see :mod:`compgen.tasks.commands`)."""
