"""Recombination: components of two images (or of two models) composed into a scene no image shows.

An image's K components are its model's latents; a component that takes most of an object's
pixels in the model's own segmentation (:meth:`DecomposedDiffusion.segmentation`) "owns" it.
The test puts one object of image B into image A: A's components, with the emptiest one that
owns no object (background and spare slots) replaced by the component that owns B's object,
keeping K components as in training. The chosen union is A's objects plus B's object; a
composed image passes when the detector finds exactly that union.

Across data sets, A's components come from the model trained on one data set and B's from the
model trained on the other: the product of components of two models, with colours together
that neither model's data had.

Two ways to compose the chosen components: as Decomp Diffusion does, their product with
guidance over the null latent (:func:`recombined_composition`); and pixel by pixel
(:func:`spatial_composition`), each component's score weighted by its share of the pixels in
its own image's segmentation, so that B's object keeps B's colours among A's components. Each
sampled by reverse diffusion and by annealed MALA.

Baselines: pixel averaging of A's and B's reconstructions, and a monolithic model (one latent
per image, K = 1) composed as the product of A's and B's whole-image components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.compose import Conditioned, Product, WeightedScore
from compgen.models.decomposed import DecomposedDiffusion
from compgen.tasks.decomposition.data import Scene
from compgen.tasks.images.detector import exact
from compgen.tasks.images.models import to_model_space
from compgen.tasks.images.scenes import SceneObject


def owners(model: DecomposedDiffusion, images: np.ndarray, scenes: list[Scene]) -> list[list[int | None]]:
    """For each scene, for each object, the component that owns it (takes most of its pixels
    and no other object's), or None when no component has it to itself."""
    with torch.no_grad():
        shares = model.segmentation(to_model_space(torch.from_numpy(images))).numpy()  # (B, K, S * S)
    result = []
    for scene, share in zip(scenes, shares, strict=True):
        label = share.argmax(0)
        top = [int(np.bincount(label[m.ravel()], minlength=model.k).argmax()) for m in scene.masks]
        result.append([k if top.count(k) == 1 else None for k in top])
    return result


@dataclass(frozen=True)
class Recombination:
    """One test: put object ``b_object`` of scene ``b`` into scene ``a``."""

    a: int  # index of A among the test scenes
    b: int  # index of B
    b_object: int  # index of the object in B's objects
    target: tuple[SceneObject, ...]  # A's objects and B's object


def recombination_tests(scenes_a: list[Scene], scenes_b: list[Scene], n: int, seed: int = 0
                        ) -> list[Recombination]:
    """``n`` tests: A with at most 2 objects, B's object at a place A leaves free."""
    rng = np.random.default_rng(seed)
    small = [i for i, s in enumerate(scenes_a) if len(s.objects) <= 2]
    tests = []
    while len(tests) < n:
        a, b = int(rng.choice(small)), int(rng.integers(len(scenes_b)))
        taken = {o.place for o in scenes_a[a].objects}
        free = [j for j, o in enumerate(scenes_b[b].objects) if o.place not in taken]
        if free:
            j = int(rng.choice(free))
            tests.append(Recombination(a, b, j, (*scenes_a[a].objects, scenes_b[b].objects[j])))
    return tests


@dataclass(frozen=True)
class Parts:
    """What one test composes: A's latents without the replaced one (K-1, L) and B's owning
    latent (1, L), with each one's share of its own image's pixels, (K-1, S * S) and (1, S * S)."""

    kept: Tensor
    given: Tensor
    kept_masks: Tensor
    given_masks: Tensor


def recombined_latents(model_a: DecomposedDiffusion, images_a: np.ndarray, scenes_a: list[Scene],
                       model_b: DecomposedDiffusion, images_b: np.ndarray, scenes_b: list[Scene],
                       tests: list[Recombination]) -> list[Parts | None]:
    """Per test, the :class:`Parts` to compose, or None when B's object or one of A's objects
    has no owner, or A has no component to spare."""
    with torch.no_grad():
        xa, xb = (to_model_space(torch.from_numpy(i)) for i in (images_a, images_b))
        za, zb = model_a.encode(xa), model_b.encode(xb)
        seg_a, seg_b = model_a.segmentation(xa), model_b.segmentation(xb)  # (B, K, S * S)
    mass_a = seg_a.sum(-1)  # (B, K): how much of the image each latent takes
    own_a, own_b = owners(model_a, images_a, scenes_a), owners(model_b, images_b, scenes_b)
    chosen = []
    for test in tests:
        giver = own_b[test.b][test.b_object]
        spare = [k for k in range(model_a.k) if k not in own_a[test.a]]
        if giver is None or None in own_a[test.a] or not spare:
            chosen.append(None)
            continue
        out = min(spare, key=lambda k: float(mass_a[test.a, k]))
        keep = [k for k in range(model_a.k) if k != out]
        chosen.append(Parts(za[test.a, keep], zb[test.b, [giver]], seg_a[test.a, keep],
                            seg_b[test.b, [giver]]))
    return chosen


def stacked(parts: list[Parts]) -> Parts:
    """Several tests' parts as one batch: (B, K-1, L), (B, 1, L), (B, K-1, S * S), (B, 1, S * S)."""
    return Parts(*(torch.stack([getattr(p, f) for p in parts]) for f in ("kept", "given", "kept_masks",
                                                                         "given_masks")))


def recombined_composition(model_a: DecomposedDiffusion, kept: Tensor, model_b: DecomposedDiffusion,
                           given: Tensor, guidance: float = 1.0) -> Product:
    """A's kept latents and B's given ones composed: (K-1, L) and (1, L) for one image, or
    (B, K-1, L) and (B, 1, L) for B chains.

    With ``guidance`` w, ``p_A(x | 0) * prod_k (p_k(x | z_k) / p_k(x | 0)) ** (w / K)``, each
    component over its own model's null latent 0 (classifier-free guidance, as Decomp Diffusion
    samples recombinations); w = 1 with one model and K latents is the plain product of the
    components.
    """
    factors, null_power = [], {}
    for model, latents in ((model_a, kept), (model_b, given)):
        latents = latents[None] if latents.dim() == 2 else latents
        one = latents.shape[0] == 1
        for j in range(latents.shape[1]):
            z = latents[0, j] if one else latents[:, j]
            factors.append(Conditioned(model.denoiser, z.detach()) ** (guidance / model.k))
        null_power[model] = null_power.get(model, 0.0) - guidance * latents.shape[1] / model.k
    null_power[model_a] += 1.0
    for model, power in null_power.items():
        if abs(power) > 1e-9:
            factors.append(Conditioned(model.denoiser, torch.zeros(model.latent_dim)) ** power)
    return Product(factors)


def exact_rate(images: np.ndarray, tests: list[Recombination]) -> float:
    """Share of composed images (n, 3, S, S) in which the detector finds exactly the target."""
    return float(np.mean([exact(image, list(t.target)) for image, t in zip(images, tests, strict=True)]))


def spatial_composition(model_a: DecomposedDiffusion, kept: Tensor, kept_masks: Tensor,
                        model_b: DecomposedDiffusion, given: Tensor, given_masks: Tensor,
                        guidance: float = 1.0) -> Product:
    """A's kept latents and B's given ones composed pixel by pixel: each component's score
    weighted (:class:`~compgen.algebra.WeightedScore`) by its share of the pixels, B's
    components taking the pixels their masks give them and A's sharing the rest in proportion
    to theirs. Shapes as :func:`recombined_composition`, the masks (..., K-1, S * S) and
    (..., 1, S * S) (each latent's share of its own image, :meth:`DecomposedDiffusion.segmentation`).

    Every component predicts the whole image, so in a plain product A's K-1 components outvote
    B's one at every pixel and B's object takes A's colours; weighted, each pixel follows the
    component whose object it is. ``guidance`` w: ``s_0 + w (s_k - s_0)`` per component, s_0 its
    own model's null latent, with the same weights (w = 1: no null term).
    """
    if kept.dim() == 2:
        kept, kept_masks, given, given_masks = kept[None], kept_masks[None], given[None], given_masks[None]
    if kept_masks.shape[:2] != kept.shape[:2] or given_masks.shape[:2] != given.shape[:2]:
        raise ValueError(f"masks must hold one row per latent: kept {tuple(kept.shape)} with masks "
                         f"{tuple(kept_masks.shape)}, given {tuple(given.shape)} with "
                         f"{tuple(given_masks.shape)}")
    to_b = given_masks.sum(1, keepdim=True).clamp(max=1)  # (B, 1, S * S)
    floor = kept_masks + 1e-3  # a pixel no kept latent took (the replaced one's) is shared evenly
    to_a = floor / floor.sum(1, keepdim=True) * (1 - to_b)
    to_b = given_masks / given_masks.sum(1, keepdim=True).clamp(min=1e-6) * to_b
    one = kept.shape[0] == 1
    factors = []
    for model, latents, weights in ((model_a, kept, to_a), (model_b, given, to_b)):
        weights = weights.repeat(1, 1, model.channels)  # pixels -> channel-major coordinates
        for j in range(latents.shape[1]):
            z, w = (latents[0, j], weights[0, j]) if one else (latents[:, j], weights[:, j])
            factors.append(WeightedScore(Conditioned(model.denoiser, z.detach()), guidance * w))
        if guidance != 1.0:
            null = Conditioned(model.denoiser, torch.zeros(model.latent_dim))
            factors.append(WeightedScore(null, (1 - guidance) * (weights[0] if one else weights).sum(-2)))
    return Product(factors)
