"""The decomposition models of this task and their training: one
:class:`~compgen.models.decomposed.DecomposedDiffusion` per data set, the same configuration
for each, trained for a fixed number of steps on the data set's scenes alone."""

from __future__ import annotations

import time

import torch

from compgen.models.decomposed import DecomposedDiffusion
from compgen.tasks.decomposition.data import make_scenes
from compgen.tasks.images.models import to_model_space
from compgen.training import fit

COMPONENTS = 4  # up to 3 objects and the background
BATCH = 16  # images per step; the denoiser runs K times per image
LR = 2e-3


def decomposition_model(dataset: str, seed: int = 0, components: int = COMPONENTS) -> DecomposedDiffusion:
    """An untrained model for scenes of ``dataset`` (the data set only names it); with
    ``components=1``, the monolithic baseline (one latent per image)."""
    return DecomposedDiffusion(components=components, init_seed=seed, name=f"decomposed_{dataset}")


def weights_name(dataset: str, components: int = COMPONENTS) -> str:
    """The file stem of a trained model: ``decomposition_red-green``, or ``..._k1`` for K = 1."""
    return f"decomposition_{dataset}" + ("" if components == COMPONENTS else f"_k{components}")


def train_decomposition(dataset: str, steps: int, scenes: int = 10_000, seed: int = 0,
                        progress: bool = True, components: int = COMPONENTS
                        ) -> tuple[DecomposedDiffusion, float]:
    """Train on ``scenes`` scenes of ``dataset`` (seed ``seed``); returns the model (EMA
    weights) and the training seconds."""
    images, _ = make_scenes(scenes, dataset, seed=seed)
    x = to_model_space(torch.from_numpy(images))
    model = decomposition_model(dataset, seed, components)
    gen = torch.Generator().manual_seed(seed)

    def loss() -> torch.Tensor:
        return model.loss(x[torch.randint(len(x), (BATCH,), generator=gen)], gen)

    start = time.perf_counter()
    fit(model, loss, steps, LR, progress, ema_decay=0.999)
    return model, time.perf_counter() - start
