"""``python -m compgen``: the CLI. In bash, ``compgen`` names a shell builtin (programmable
completion) that runs instead of the installed executable; this entry point always works."""

from compgen.cli import main

main()
