"""Writing a benchmark's results: JSON (atomically, also while it runs), Markdown table, PNG."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from compgen.files import write_json


def machine() -> dict:
    """What the numbers were measured with."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version()}


def mean_std(mean: float, std: float, seeds: int, spec: str = ".3f") -> str:
    """``mean ± std`` for a table cell; the mean alone from one seed, where a spread means nothing."""
    return f"{mean:{spec}} ± {std:{spec}}" if seeds >= 2 else f"{mean:{spec}}"


def earlier(path: Path, result: dict, same: Sequence[str]) -> dict:
    """The results an earlier (possibly interrupted) run left at ``path``, if they agree with
    ``result`` on the ``same`` keys (the settings that make their numbers comparable); {}
    otherwise. Benchmarks keep what they can of it instead of measuring it again."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    return old if all(old.get(k) == result[k] for k in same) else {}


def finish(out: Path, name: str, result: dict, table: str,
           plot: Callable[[dict, Path], None] | None) -> dict:
    """Store ``table`` in the result and write ``name``.json, ``name``.md and (with ``plot``)
    ``name``.png."""
    result["table"] = table
    write_json(out / f"{name}.json", result)
    (out / f"{name}.md").write_text(table + "\n")
    if plot is not None:
        plot(result, out / f"{name}.png")
    return result
