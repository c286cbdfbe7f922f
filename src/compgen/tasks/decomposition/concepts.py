"""Concepts discovered in a frozen text-to-image model (after Liu et al. 2023).

Keep the shipped sentence-conditioned scene model frozen; learn M concept vectors ``c_m`` in its
condition space (standardized MiniLM embeddings, :func:`compgen.tasks.images.models.encode`)
and a weight per image and concept, so that image i's noise is predicted as

    eps_u(x) + sum_m w_im (eps(x | c_m) - eps_u(x)),

trained with the denoising loss on unlabeled images alone. Each image then picks the concepts
that explain it, and each concept is a condition like a sentence: sampled alone with guidance,
composed with ``&`` (a product of guided factors), or named by the nearest real sentence.

Where the concepts may go: the model was trained on the conditions of its vocabulary (the 108
object sentences), so a concept stays in their span and at their mean norm, and starts at M
distinct vocabulary conditions picked at random, without looking at the images. Off that span a
condition is an input the network never saw; the free vectors of the first version wandered
there and their samples were impure. The weights: ``one_per_image`` makes them a softmax over
concepts (each image one concept, for single-object images), otherwise a sigmoid per concept
(any subset). A concept whose images it explains no better than the null condition is dead (a
local minimum, measured: its loss stays at the null's), and a live one may fit its images worse
than their own sentence does; :meth:`Concepts.reseed` moves a concept to the vocabulary
condition that best denoises its images whenever that one does better.

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
from compgen.tasks.images.models import to_model_space, vocabulary_conditions
from compgen.tasks.images.scenes import COLOURS, PLACES, SHAPES, VOCABULARY, SceneObject, render
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
    """M concept vectors (M, C) over a frozen conditional model, kept in the span of its
    ``vocabulary`` conditions (V, C) at their mean norm, and per-image weight logits (N, M)."""

    def __init__(self, model: ScoreDiffusion, images: int, vocabulary: Tensor, concepts: int = 5,
                 one_per_image: bool = True, seed: int = 0):
        super().__init__()
        if vocabulary.dim() != 2 or vocabulary.shape[1] != model.cond_dim or len(vocabulary) < concepts:
            raise ValueError(f"vocabulary must be (V >= {concepts}, {model.cond_dim}) conditions, "
                             f"got shape {tuple(vocabulary.shape)}")
        self.generator = torch.Generator().manual_seed(seed)
        self.model = model.requires_grad_(False)
        self.one_per_image = one_per_image
        u, s, _ = torch.linalg.svd(vocabulary.T, full_matrices=False)
        # (C, rank): the span, without directions the vocabulary barely varies in (sentences
        # move < 0.04 of their norm ~20 out of it)
        self.register_buffer("basis", u[:, s > 1e-3 * s[0]])
        self.register_buffer("vocabulary", vocabulary)
        self.scale = float(vocabulary.norm(dim=1).mean())
        start = torch.randperm(len(vocabulary), generator=self.generator)[:concepts]
        self.vectors = nn.Parameter(vocabulary[start].clone())
        self.logits = nn.Parameter(0.1 * torch.randn(images, concepts, generator=self.generator))

    def __repr__(self) -> str:
        return f"Concepts({len(self.vectors)} over {self.model!r})"

    @property
    def conditions(self) -> Tensor:
        """(M, C): the concepts as the model reads them, in the vocabulary's span at its norm."""
        return self._inside(self.vectors)

    @property
    def weights(self) -> Tensor:
        """(N, M) in (0, 1): how much of each concept each image takes (rows sum to 1 with
        ``one_per_image``)."""
        return torch.softmax(self.logits, 1) if self.one_per_image else torch.sigmoid(self.logits)

    def errors(self, x0: Tensor, index: Tensor, generator: torch.Generator) -> Tensor:
        """(B,) denoising errors of images x0 (B, D) (rows ``index`` of the training set) under
        their weighted concepts, v-weighted as the model was trained."""
        model, m = self.model, len(self.vectors)
        t, eps, x_t = model.schedule.noised(x0, generator)
        b = len(x0)
        conds = torch.cat([model.null_condition.expand(1, -1), self.conditions])  # (M + 1, C)
        out = model.predict_noise(x_t.repeat_interleave(m + 1, 0), t.repeat_interleave(m + 1),
                                  conds.repeat(b, 1)).view(b, m + 1, -1)
        uncond, cond = out[:, 0], out[:, 1:]
        eps_hat = uncond + (self.weights[index][:, :, None] * (cond - uncond[:, None])).sum(1)
        return model.noise_errors(t, eps_hat, eps)

    def loss(self, x0: Tensor, index: Tensor, generator: torch.Generator) -> Tensor:
        """The mean of :meth:`errors`: the training loss."""
        return self.errors(x0, index, generator).mean()

    @torch.no_grad()
    def reseed(self, x0: Tensor, images: int = 8, draws: int = 4) -> list[int]:
        """Move concepts to vocabulary conditions that explain their images better; returns the
        indices of the concepts that moved.

        Concept m's images are (up to ``images`` of) the images (N, D) whose top concept it is,
        or, when no image picks it, those the concepts explain worst (k-means restarts an empty
        cluster where the data is farthest from every centre). The vocabulary condition with the
        lowest denoising loss on them (``draws`` noise draws each, the same for every candidate)
        replaces the concept when it does better than the concept itself. Gradient descent
        stalls in local minima (measured: a dead concept's loss stays at the null condition's;
        live ones fit their images worse than their class's sentence); the images stay unlabeled
        and the vocabulary is the model's own.
        """
        moved, top = [], self.weights.argmax(1)  # the weights stay as they are: moves change vectors only
        sentences = self._inside(self.vocabulary)
        for m in range(len(self.vectors)):
            mine = x0[top == m][:images]
            if not len(mine):
                index = torch.arange(len(x0)).repeat(draws)
                worst = self.errors(x0[index], index, self.generator).view(draws, -1).mean(0)
                mine = x0[worst.topk(min(images, len(x0))).indices]
            t, eps, x_t = self.model.schedule.noised(mine.repeat(draws, 1), self.generator)  # draws x n rows
            candidates = torch.cat([self.conditions[m:m + 1], sentences])
            # 12 candidates a forward pass: 12 x R rows keep the batch small
            losses = torch.cat([self._condition_errors(x_t, t, eps, c).mean(1) for c in candidates.split(12)])
            best = int(losses[1:].argmin())
            if losses[1 + best] < losses[0] and not torch.equal(self.vectors[m], self.vocabulary[best]):
                self.vectors[m] = self.vocabulary[best]
                moved.append(m)
        return moved

    def _inside(self, vectors: Tensor) -> Tensor:
        """Vectors (n, C) as the model reads a concept: projected on the span, at the norm."""
        return self.scale * nn.functional.normalize(vectors @ self.basis @ self.basis.T, dim=1)

    def _condition_errors(self, x_t: Tensor, t: Tensor, eps: Tensor, conds: Tensor) -> Tensor:
        """(n, R) errors of each of n conditions (n, C) on the same R noised images."""
        n, r = len(conds), len(x_t)
        eps_hat = self.model.predict_noise(x_t.repeat(n, 1), t.repeat(n), conds.repeat_interleave(r, 0))
        return self.model.noise_errors(t.repeat(n), eps_hat, eps.repeat(n, 1)).view(n, r)


def discover_concepts(model: ScoreDiffusion, images: np.ndarray, concepts: int = 5, steps: int = 2000,
                      lr: float = 0.1, one_per_image: bool = True, seed: int = 0, progress: bool = True
                      ) -> tuple[Concepts, float, list[list[int]]]:
    """Fit :class:`Concepts` to (N, 3, S, S) images in [0, 1], checking for better vocabulary
    conditions (:meth:`Concepts.reseed`) after a quarter, half and all of the steps; returns it,
    the seconds taken and the concepts moved at each of the three checks."""
    x = to_model_space(torch.from_numpy(images))
    found = Concepts(model, len(x), vocabulary_conditions(), concepts, one_per_image, seed)
    gen = torch.Generator().manual_seed(seed)
    moved = []

    def loss() -> Tensor:
        index = torch.randint(len(x), (BATCH,), generator=gen)
        return found.loss(x[index], index, gen)

    def check(step: int, _) -> None:
        if step in (steps // 4, steps // 2, steps):
            moved.append(found.reseed(x))

    start = time.perf_counter()
    fit(found, loss, steps, lr, progress, callback=check)
    return found, time.perf_counter() - start, moved


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
    e = vocabulary_conditions()
    similarity = nn.functional.normalize(vectors.detach(), dim=1) @ nn.functional.normalize(e, dim=1).T
    return [VOCABULARY[i] for i in similarity.argmax(1).tolist()]
