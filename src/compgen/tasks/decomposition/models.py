"""The decomposition models of this task and their training: one
:class:`~compgen.models.decomposed.DecomposedDiffusion` per data set, the same configuration
for each, trained on the data set's scenes alone in two stages: the slot autoencoder (encoder
and mask decoder), then the denoiser on the frozen encoder's latents."""

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
AUTOENCODER_STEPS = 8000  # about 0.11 s each on one core, a fifth of a denoiser step
DECODER = (3, 3)  # the mask decoder's convolutions and kernel size (README: (4, 5) tried, not shipped)
DENOISER_STEPS = 5000  # about 0.4 s each: both stages fit in the hour


def decomposition_model(dataset: str, seed: int = 0, components: int = COMPONENTS,
                        decoder: tuple[int, int] = DECODER) -> DecomposedDiffusion:
    """An untrained model for scenes of ``dataset`` (the data set only names it); with
    ``components=1``, the monolithic baseline (one latent per image). ``decoder``: the mask
    decoder's (layers, kernel)."""
    return DecomposedDiffusion(components=components, decoder_layers=decoder[0], decoder_kernel=decoder[1],
                               init_seed=seed, name=f"decomposed_{dataset}")


def weights_name(dataset: str, components: int = COMPONENTS) -> str:
    """The file stem of a trained model: ``decomposition_red-green``, or ``..._k1`` for K = 1."""
    return f"decomposition_{dataset}" + ("" if components == COMPONENTS else f"_k{components}")


def train_decomposition(dataset: str, steps: int, scenes: int = 10_000, seed: int = 0,
                        progress: bool = True, components: int = COMPONENTS,
                        autoencoder_steps: int = AUTOENCODER_STEPS,
                        decoder: tuple[int, int] = DECODER) -> tuple[DecomposedDiffusion, float]:
    """Train on ``scenes`` scenes of ``dataset`` (seed ``seed``): ``autoencoder_steps`` steps of
    the slot autoencoder (mask decoder of ``decoder`` = (layers, kernel)), then ``steps`` steps
    of the denoiser on its latents. Returns the model
    (EMA weights) and the training seconds."""
    images, _ = make_scenes(scenes, dataset, seed=seed)
    x = to_model_space(torch.from_numpy(images))
    model = decomposition_model(dataset, seed, components, decoder)
    gen = torch.Generator().manual_seed(seed)

    def autoencoder_loss() -> torch.Tensor:
        return model.autoencoder_loss(x[torch.randint(len(x), (BATCH,), generator=gen)])

    start = time.perf_counter()
    fit(model.autoencoder(), autoencoder_loss, autoencoder_steps, LR, progress, ema_decay=0.999)
    with torch.no_grad():
        latents = torch.cat([model.encode(chunk) for chunk in x.split(500)])

    def denoising_loss() -> torch.Tensor:
        index = torch.randint(len(x), (BATCH,), generator=gen)
        return model.denoising_loss(x[index], latents[index], gen)

    fit(model.denoiser, denoising_loss, steps, LR, progress, ema_decay=0.999)
    return model, time.perf_counter() - start
