"""The two text-to-image models and their training sets.

Both are the same score network (diffusers' UNet2DModel body, 24 x 24 RGB, conditioned on a
384-d MiniLM embedding, with a null condition learned by condition dropout) trained on the
same scenes for the same steps and batch size:

- ``"sentences"``: each training example is a scene with the embedding of ONE of its objects'
  sentences (as Composable Diffusion's CLEVR models saw one object position per image); the
  composition multiplies one such factor per requested sentence.
- ``"paragraph"``: each example is a scene with the embedding of its whole paragraph; the
  monolithic baseline.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from compgen.models.diffusion import ScoreDiffusion
from compgen.tasks.images.scenes import SIZE, VOCABULARY, make_scenes, paragraph
from compgen.tasks.images.text import EMBEDDING_DIM, sentence_encoder
from compgen.training import train

KINDS = ("sentences", "paragraph")
WIDTH, DEPTH = 16, 2  # U-Net levels of 16 / 32 / 64 channels: 0.7M parameters
BATCH = 64


def encode(texts: list[str], progress: bool = False) -> Tensor:
    """(N, 384) model conditions for ``texts``: MiniLM embeddings, centred on the mean of the
    108 object sentences and scaled to unit variance per coordinate.

    Raw unit-norm embeddings of these sentences differ by a few hundredths per coordinate (pairwise
    cosine about 0.4-0.5); standardized, they reach the network at the scale its layers expect.
    The statistics come from the fixed sentence vocabulary, so they need no storing.
    """
    mean, scale = _vocabulary_stats()
    return (sentence_encoder().encode(list(texts), progress) - mean) / scale


@functools.cache
def vocabulary_conditions() -> Tensor:
    """(108, 384): the conditions of the object sentences, in the order of
    :data:`~compgen.tasks.images.scenes.VOCABULARY` (cached: do not modify)."""
    mean, scale = _vocabulary_stats()
    return (_vocabulary_embeddings() - mean) / scale


@functools.cache
def _vocabulary_embeddings() -> Tensor:
    """(108, 384) raw MiniLM embeddings of the object sentences (fixed, so cached)."""
    return sentence_encoder().encode([o.sentence for o in VOCABULARY])


@functools.cache
def _vocabulary_stats() -> tuple[Tensor, float]:
    """Mean (384,) and scale of the embeddings of the 108 object sentences."""
    e = _vocabulary_embeddings()
    mean = e.mean(0)
    return mean, (e - mean).pow(2).mean().sqrt().item()


def image_model(kind: str, seed: int = 0) -> ScoreDiffusion:
    """An untrained text-conditioned image model (score parameterization, v-prediction)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return ScoreDiffusion(3 * SIZE * SIZE, hidden=WIDTH, layers=DEPTH, backbone="unet2d", channels=3,
                          cond_dim=EMBEDDING_DIM, cond_dropout=0.1, name=f"scenes_{kind}",
                          init_seed=seed, prediction="v")


def to_model_space(images: Tensor) -> Tensor:
    """(N, 3, S, S) images in [0, 1] -> (N, 3*S*S) in [-1, 1], the space models live in."""
    return (2 * images - 1).reshape(len(images), -1)


def to_images(x: Tensor, height: int = SIZE, width: int = SIZE) -> Tensor:
    """Inverse of :func:`to_model_space`, clipped to [0, 1]: (N, 3*H*W) -> (N, 3, H, W)."""
    return ((x.reshape(len(x), 3, height, width) + 1) / 2).clamp(0, 1)


def training_set(kind: str, scenes: int, seed: int = 0, progress: bool = True) -> tuple[Tensor, Tensor]:
    """(N, D) images in model space and (N, 384) condition embeddings.

    ``sentences``: one row per object of every scene (the image repeated); ``paragraph``: one
    row per scene. Scenes come from the training split (no red object beside a blue one).
    """
    images, objects = make_scenes(scenes, seed)
    x = to_model_space(torch.from_numpy(images))
    if kind == "sentences":
        rows = [i for i, scene in enumerate(objects) for _ in scene]
        return x[rows], encode([o.sentence for scene in objects for o in scene], progress)
    return x, encode([paragraph(scene) for scene in objects], progress)


def train_image_model(kind: str, steps: int, scenes: int, seed: int = 0, progress: bool = True,
                      checkpoint: Callable[[int, ScoreDiffusion], None] | None = None,
                      ) -> tuple[ScoreDiffusion, float]:
    """Train a ``kind`` model; returns it (EMA weights) and the training seconds.

    ``checkpoint(step, ema)`` is called every 500 steps (e.g. to save snapshots).
    """
    x, cond = training_set(kind, scenes, seed, progress)
    model = image_model(kind, seed)

    def callback(step: int, ema: ScoreDiffusion) -> None:
        if checkpoint is not None and step % 500 == 0:
            checkpoint(step, ema)

    start = time.perf_counter()
    train(model, x, steps=steps, batch_size=BATCH, lr=1e-3, labels=cond, seed=seed, progress=progress,
          callback=callback)
    return model, time.perf_counter() - start


def default_path(kind: str) -> Path:
    return Path(f"data/image_models/scenes_{kind}.safetensors")
