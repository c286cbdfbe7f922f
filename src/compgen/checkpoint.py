"""Checkpoints: safetensors weights with a JSON config (format version) in the file's metadata.

One file per model; written atomically (temp file + rename), read without unpickling.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from compgen.files import atomic_path
from compgen.models.registry import Checkpointable, model_class
from compgen.schedule import VPSchedule

FORMAT = "compgen-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or incompatible with this version of compgen."""


def save(model: Checkpointable, path: str | os.PathLike) -> Path:
    """Write ``model`` (any :class:`~compgen.models.registry.Checkpointable`: the learned
    networks, Gaussian mixtures) to ``path`` (.safetensors) atomically; returns the path."""
    if not isinstance(model, Checkpointable):
        raise TypeError(f"save: cannot save {type(model).__name__}; save its leaf models one by one")
    config, tensors = model.config(), model.checkpoint_tensors()
    path = Path(path)
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": json.dumps(config)}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path


def load(path: str | os.PathLike) -> Checkpointable:
    """Read a model written by :func:`save`; raises :class:`CheckpointError` on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err})") from err
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a compgen checkpoint (no '{FORMAT}' metadata)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path} has format version {metadata.get('format_version')}, "
                              f"this compgen reads version {FORMAT_VERSION}")
    try:
        config = json.loads(metadata["config"])
        return _build(config, tensors)
    except (KeyError, TypeError, json.JSONDecodeError, RuntimeError) as err:
        raise CheckpointError(f"{path}: config and weights do not match ({err})") from err


def _build(config: dict, tensors: dict[str, torch.Tensor]) -> Checkpointable:
    """The same constructor call that made the saved model, then its weights."""
    cls = model_class(config.pop("kind"))
    if "schedule" in config:  # discrete models have no noise schedule
        config["schedule"] = VPSchedule(**config["schedule"])
    if cls.tensor_arguments:
        return cls(**config, **{name: tensors[name] for name in cls.tensor_arguments})
    model = cls(**config)
    model.load_state_dict(tensors, strict=True)  # RuntimeError names missing/unexpected keys
    return model.eval()
