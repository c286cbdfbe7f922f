"""Checkpoints: safetensors weights with a JSON config (format version) in the file's metadata.

One file per model; written atomically (temp file + rename), read without unpickling.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError

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
    data, path = dumps(model), Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def dumps(model: Checkpointable) -> bytes:
    """The bytes :func:`save` writes: a checkpoint to send to another process or machine."""
    if not isinstance(model, Checkpointable):
        raise TypeError(f"save: cannot save {type(model).__name__}; save its leaf models one by one")
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": json.dumps(model.config())}
    return safetensors.torch.save(model.checkpoint_tensors(), metadata=metadata)


def load(path: str | os.PathLike) -> Checkpointable:
    """Read a model written by :func:`save`; raises :class:`CheckpointError` on a bad file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return loads(path.read_bytes(), source=str(path))


def loads(data: bytes, source: str = "checkpoint bytes") -> Checkpointable:
    """Read a model from the bytes of a checkpoint (:func:`dumps`); ``source`` names them in errors."""
    try:
        metadata = _metadata(data)
        tensors = safetensors.torch.load(data)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{source} is not a readable safetensors file ({err})") from err
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not a compgen checkpoint (no '{FORMAT}' metadata)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{source} has format version {metadata.get('format_version')}, "
                              f"this compgen reads version {FORMAT_VERSION}")
    try:
        config = json.loads(metadata["config"])
        return _build(config, tensors)
    except (KeyError, TypeError, json.JSONDecodeError, RuntimeError) as err:
        raise CheckpointError(f"{source}: config and weights do not match ({err})") from err


def _metadata(data: bytes) -> dict:
    """The ``__metadata__`` of a safetensors header: 8 bytes of little-endian length, then JSON."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes is shorter than a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise ValueError(f"the header claims {size} bytes, the file has {len(data) - 8}")
    try:
        header = json.loads(data[8 : 8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"the header is not JSON ({err})") from err
    return (header.get("__metadata__") or {}) if isinstance(header, dict) else {}


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
