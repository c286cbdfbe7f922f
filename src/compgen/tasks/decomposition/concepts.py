"""Concepts discovered in a frozen text-to-image model (after Liu et al. 2023).

Keep the shipped sentence-conditioned scene model frozen; learn M concept vectors ``c_m`` in its
condition space (standardized MiniLM embeddings, :func:`compgen.tasks.images.models.encode`)
and a weight per image and concept, so that image i's noise is predicted as

    eps_u(x) + sum_m w_im (eps(x | c_m) - eps_u(x)),     w_im = sigmoid(a_im),

trained with the denoising loss on unlabeled images alone. Each image then picks the concepts
that explain it, and each concept is a condition like a sentence: sampled alone with guidance,
composed with ``&`` (a product of guided factors), or named by the nearest real sentence.

The images: ``classes`` hidden objects (shape, colour, place), one per image (or two per image,
for the multi-concept test). The renderer is deterministic, so a class is a single picture;
what has to be discovered is which images belong together and a condition that draws each.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from compgen.algebra import guided
from compgen.models.diffusion import ScoreDiffusion
from compgen.tasks.images.detector import exact
from compgen.tasks.images.models import encode, to_model_space
from compgen.tasks.images.scenes import COLOURS, PLACES, SHAPES, SceneObject, render
from compgen.training import fit

GUIDANCE = 3.0  # guidance weight when a concept is sampled alone or composed
BATCH = 16


def hidden_classes(n: int = 5, seed: int = 0) -> list[SceneObject]:
    """``n`` objects of distinct shape-colour pairs at distinct places: the hidden classes."""
    rng = np.random.default_rng(seed)
    pairs = [(s, c) for s in SHAPES for c in COLOURS]
    chosen = rng.choice(len(pairs), n, replace=False)
    places = rng.choice(len(PLACES), n, replace=False)
    return [SceneObject(*pairs[i], int(p)) for i, p in zip(chosen, places, strict=True)]


def concept_images(classes: list[SceneObject], n: int, per_image: int = 1, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 3, S, S) of ``per_image`` distinct classes each, and their classes (n, per_image)."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.choice(len(classes), per_image, replace=False) for _ in range(n)])
    return np.stack([render([classes[j] for j in row]) for row in labels]), labels


class Concepts(nn.Module):
    """M concept vectors (M, C) and per-image weight logits (N, M) over a frozen conditional model."""

    def __init__(self, model: ScoreDiffusion, images: int, concepts: int = 5, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.model = model.requires_grad_(False)
        self.vectors = nn.Parameter(torch.randn(concepts, model.cond_dim, generator=gen))
        self.logits = nn.Parameter(0.1 * torch.randn(images, concepts, generator=gen))

    @property
    def weights(self) -> Tensor:
        """(N, M) in (0, 1): how much of each concept each image takes."""
        return torch.sigmoid(self.logits)

    def loss(self, x0: Tensor, index: Tensor, generator: torch.Generator) -> Tensor:
        """Denoising loss of images x0 (B, D) (rows ``index`` of the training set) under their
        weighted concepts, v-weighted as the model was trained."""
        model, m = self.model, len(self.vectors)
        t, eps, x_t = model.schedule.noised(x0, generator)
        b = len(x0)
        conds = torch.cat([model.null_condition.expand(1, -1), self.vectors])  # (M + 1, C)
        out = model.predict_noise(x_t.repeat_interleave(m + 1, 0), t.repeat_interleave(m + 1),
                                  conds.repeat(b, 1)).view(b, m + 1, -1)
        uncond, cond = out[:, 0], out[:, 1:]
        eps_hat = uncond + (self.weights[index][:, :, None] * (cond - uncond[:, None])).sum(1)
        return model.noise_loss(t, eps_hat, eps)


def discover_concepts(model: ScoreDiffusion, images: np.ndarray, concepts: int = 5, steps: int = 1000,
                      lr: float = 3e-2, seed: int = 0, progress: bool = True) -> tuple[Concepts, float]:
    """Fit :class:`Concepts` to (N, 3, S, S) images in [0, 1]; returns it and the seconds taken."""
    x = to_model_space(torch.from_numpy(images))
    found = Concepts(model, len(x), concepts, seed)
    gen = torch.Generator().manual_seed(seed)

    def loss() -> Tensor:
        index = torch.randint(len(x), (BATCH,), generator=gen)
        return found.loss(x[index], index, gen)

    start = time.perf_counter()
    fit(found, loss, steps, lr, progress)
    return found, time.perf_counter() - start


def matched_accuracy(weights: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Share of images whose top k concepts are exactly their k classes, under the best
    one-to-one matching of concepts to classes (Hungarian, on how often a concept is among an
    image's top k when a class is in it), and that matching (class of each concept, -1 if none).
    ``weights`` (N, M); ``labels`` (N, k)."""
    n, k = labels.shape
    m, c = weights.shape[1], int(labels.max()) + 1
    top = np.argsort(-weights, axis=1)[:, :k]
    table = np.zeros((m, c))
    for row, label in zip(top, labels, strict=True):
        table[np.ix_(row, label)] += 1
    rows, cols = linear_sum_assignment(-table)
    match = np.full(m, -1)
    match[rows] = cols
    hits = [set(match[row]) == set(label) for row, label in zip(top, labels, strict=True)]
    return float(np.mean(hits)), match


def concept_composition(model: ScoreDiffusion, vectors: Tensor, weight: float = GUIDANCE):
    """The concepts (K, C) composed as a product of guided factors: concept_1 & concept_2 & ..."""
    return guided(model, vectors.detach(), weight)


def purity(samples: np.ndarray, target: SceneObject) -> float:
    """Share of samples (n, 3, S, S) in which the detector finds exactly ``target``."""
    return float(np.mean([exact(s, [target]) for s in samples]))


def nearest_sentence(vectors: Tensor) -> list[SceneObject]:
    """For each concept (M, C), the object whose sentence embedding is nearest (cosine)."""
    vocabulary = [SceneObject(s, c, p) for s in SHAPES for c in COLOURS for p in range(len(PLACES))]
    e = encode([o.sentence for o in vocabulary])
    similarity = nn.functional.normalize(vectors.detach(), dim=1) @ nn.functional.normalize(e, dim=1).T
    return [vocabulary[i] for i in similarity.argmax(1).tolist()]
