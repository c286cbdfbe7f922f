"""Writing a benchmark's results: JSON (atomically, also while it runs), Markdown table, PNG."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

import torch


def machine() -> dict:
    """What the numbers were measured with."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version()}


def save_json(path: Path, result: dict) -> None:
    """Write ``result`` so that a reader never sees a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)


def finish(out: Path, name: str, result: dict, table: str,
           plot: Callable[[dict, Path], None]) -> dict:
    """Store ``table`` in the result and write ``name``.json, ``name``.md and ``name``.png."""
    result["table"] = table
    save_json(out / f"{name}.json", result)
    (out / f"{name}.md").write_text(table + "\n")
    plot(result, out / f"{name}.png")
    return result
