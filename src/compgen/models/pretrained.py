"""Small models shipped with compgen, trained by ``compgen train`` / ``compgen train-language``
(see weights/README.md)."""

from __future__ import annotations

from pathlib import Path

from compgen.checkpoint import load
from compgen.models.registry import Checkpointable

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def load_pretrained(name: str) -> Checkpointable:
    """Load a shipped model by name, e.g. ``"bars_h"`` or ``"balanced"``."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"no shipped model {name!r}; available: {available()}")
    return load(path)
