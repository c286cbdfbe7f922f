"""The 2D proof suite's compositions, and the components they are built from.

Each task is an expression over named densities. Its components come in three kinds:
``analytic`` (the exact Gaussian mixtures), ``energy`` (learned EnergyDiffusion models) and
``score`` (learned ScoreDiffusion models). The exact reference is always the analytic one.
"""

from __future__ import annotations

import time

import torch

from compgen.algebra.component import Component
from compgen.data.toy2d import DENSITIES, density
from compgen.expression import parse
from compgen.models.diffusion import DiffusionNetwork, EnergyDiffusion, ScoreDiffusion
from compgen.models.pretrained import load_pretrained
from compgen.training import train

TASKS = {
    "product": "bars_h & bars_v",
    "product_ring": "ring & bands",
    "product_three": "bars_h & bars_v & diagonals",
    "mixture": "ring | bars_h",
    "negation": "ring & corner ** -0.5",  # p_ring / p_corner^0.5; see README on strength 1
}
KINDS = ("analytic", "energy", "score")
MODEL_CLASSES = {"energy": EnergyDiffusion, "score": ScoreDiffusion}

# how shipped models are trained: `compgen train` uses these defaults
TRAIN_SAMPLES, TRAIN_STEPS = 5000, 10000


def train_density_model(name: str, kind: str = "energy", n: int = TRAIN_SAMPLES,
                        steps: int = TRAIN_STEPS, seed: int = 0, hidden: int = 128, layers: int = 3,
                        progress: bool = True) -> tuple[DiffusionNetwork, float]:
    """Train a model of kind ``energy``/``score`` on ``n`` exact samples of a named density.

    Returns: the trained model and the training time in seconds.
    """
    if kind not in MODEL_CLASSES:
        raise ValueError(f"kind must be one of {sorted(MODEL_CLASSES)}, got {kind!r}")
    data = density(name).sample(n, torch.Generator().manual_seed(seed))
    model = MODEL_CLASSES[kind](dim=2, name=name, hidden=hidden, layers=layers)
    start = time.perf_counter()
    train(model, data, steps=steps, batch_size=256, seed=seed, progress=progress)  # as the shipped weights
    return model, time.perf_counter() - start


def components(kind: str) -> dict[str, Component]:
    """The named components of one kind: analytic, or the shipped learned models."""
    if kind == "analytic":
        return {name: density(name) for name in DENSITIES}
    if kind not in MODEL_CLASSES:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    suffix = "" if kind == "energy" else "_score"
    return {name: load_pretrained(name + suffix) for name in DENSITIES}


def task(name: str, kind: str = "analytic") -> Component:
    """The composition of task ``name`` built from components of ``kind``."""
    return parse_task(name, components(kind))


def parse_task(name: str, named: dict[str, Component]) -> Component:
    """The composition of task ``name`` over already loaded components."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    return parse(TASKS[name], named)
