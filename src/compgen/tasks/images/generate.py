"""Text-to-image by composition, and the monolithic baseline.

Composition: one guided factor per sentence of one sentence-level model,
``p(x) * prod_i (p(x | t_i) / p(x)) ** w``, with negated sentences as negative weights; all
sentences go through one batched forward pass per step (:func:`compgen.algebra.guided`).
Monolithic: the paragraph model with one guided factor for the joined paragraph.

Samplers: ``"reverse"`` (ancestral reverse diffusion on the summed guided scores, what
Composable Diffusion did), ``"ula"`` (annealed Langevin on the composition: at every noise
level an ancestral move down, then Langevin steps on the composed score) and ``"mala"`` (the
same with MH corrections; the models are score-only, so the energy difference is the score's
line integral, ``line_points``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

import compgen as cg
from compgen.algebra import FactorGraph, guided
from compgen.algebra.component import Component
from compgen.samplers.result import SampleResult
from compgen.samplers.reverse import denoise
from compgen.tasks.images.models import encode, to_images
from compgen.tasks.images.scenes import SIZE

GUIDANCE = 3.0  # guidance weight per sentence (Composable Diffusion's CLEVR setting was higher)
# Annealed MCMC: at each of 25 levels an ancestral move down, then 2 Langevin steps (75
# evaluations of the composition per image, against reverse diffusion's 50).
_ANNEALED = {"levels": 25, "steps": 2, "reverse_step": True, "step_size": 0.3}
SAMPLERS: dict[str, dict] = {
    "reverse": {"sampler": "reverse", "levels": 50},
    "ula": {"sampler": "ula", **_ANNEALED, "adapt": False},
    # MH-corrected with the score's line integral over the two end points: no extra evaluation
    "mala": {"sampler": "mala", **_ANNEALED, "line_points": 2},
}


def sentence_product(model: Component, sentences: Sequence[str], weight: float = GUIDANCE,
                     negatives: Sequence[str] = (), negative_weight: float | None = None) -> FactorGraph:
    """``p(x | t_1 and ... and t_k and not n_1 ...)`` as a product of guided sentence factors.

    Args:
        model: a sentence-conditioned image model (e.g. ``scenes_sentences``).
        sentences: the objects asked for, one sentence each.
        weight: guidance weight of each sentence.
        negatives: sentences of objects that must not appear ("no blue square in the center").
        negative_weight: their (positive) strength; default ``weight``.
    """
    if not sentences:
        raise ValueError("sentence_product: sentences must name at least one object")
    negative_weight = weight if negative_weight is None else negative_weight
    weights = [weight] * len(sentences) + [-negative_weight] * len(negatives)
    return guided(model, encode([*sentences, *negatives]), weights)


def paragraph_prompt(model: Component, sentences: Sequence[str], weight: float = GUIDANCE) -> FactorGraph:
    """The monolithic baseline: one guided factor for the paragraph of all ``sentences``."""
    if not sentences:
        raise ValueError("paragraph_prompt: sentences must name at least one object")
    return guided(model, encode([" and ".join(sentences)]), weight)


def sample_images(composition: Component, n: int, sampler: str = "ula", seed: int = 0,
                  progress: bool = False, canvas: tuple[int, int] = (SIZE, SIZE), **overrides
                  ) -> tuple[Tensor, SampleResult]:
    """(n, 3, H, W) images in [0, 1] from ``composition`` with one of :data:`SAMPLERS`, and the
    sampler's result (diagnostics). The last level's noise is removed by one Tweedie step.
    ``canvas`` is (H, W): one model's window by default, larger for a tapestry; ``overrides``
    replace the sampler's settings (e.g. ``levels=20``)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    settings = {**SAMPLERS[sampler], **overrides}
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # the final denoising step needs no graph either
        result = cg.sample(composition, n, generator=generator, progress=progress, **settings)
        x = denoise(composition, result.x, result.levels[-1].item())
    return to_images(x, *canvas), result
