"""Samplers for compositions: annealed MCMC (ULA, MALA, U-HMC, HMC) and reverse diffusion over
R^D; Gibbs, Gibbs-with-Gradients and MH with a model proposal over categorical vectors."""

from __future__ import annotations

from collections.abc import Callable

import torch

from compgen.algebra.component import Component
from compgen.algebra.normalizer import check_normalizable
from compgen.samplers.annealed import (
    AnnealedHMC,
    AnnealedLangevin,
    AnnealedMALA,
    AnnealedMCMC,
    AnnealedUHMC,
    AnnealedULA,
    RepeatedReverse,
)
from compgen.samplers.discrete import (
    DiscreteMCMC,
    Gibbs,
    GibbsWithGradients,
    ModelProposalMH,
    RandomFlipMH,
)
from compgen.samplers.kernels import Info, hmc_step, langevin_step, log_acceptance
from compgen.samplers.result import NonFiniteError, Reporter, Sampler, SampleResult
from compgen.samplers.reverse import ReverseDiffusion, denoise
from compgen.samplers.target import State, Target

SAMPLERS: dict[str, type[Sampler]] = {
    "reverse": ReverseDiffusion, "reverse_repeat": RepeatedReverse, "ula": AnnealedULA,
    "mala": AnnealedMALA, "uhmc": AnnealedUHMC, "hmc": AnnealedHMC,
    "gibbs": Gibbs, "gwg": GibbsWithGradients, "flip_mh": RandomFlipMH, "mh": ModelProposalMH,
}


def sample(component: Component, n: int, sampler: str | Sampler | None = None,
           generator: torch.Generator | None = None, x_init: torch.Tensor | None = None,
           callback: Callable[[dict], None] | None = None, progress: bool = False,
           **settings) -> SampleResult:
    """Draw ``n`` samples of a component or composition.

    Args:
        component: what to sample, e.g. ``(a & b) | c``.
        n: number of independent chains (= samples).
        sampler: a name from ``SAMPLERS`` with ``settings`` passed to its constructor, or a
            sampler object. Continuous: "reverse", "reverse_repeat", "ula", "mala", "uhmc",
            "hmc". Discrete: "gibbs", "gwg", "flip_mh", "mh" (needs ``proposal=model``).
            Default: "mala" (annealed MALA; it won on generated tasks of learned factors,
            ``compgen bench robustness``) for continuous components, "gibbs" for discrete ones.
        generator: source of all randomness (deterministic for a seeded generator).
        x_init: (n, D) starting points: at t=1, N(0, I) draws by default; for discrete
            components integer states, uniform by default.
        callback: called after each noise level (annealed) or step (discrete) with one dict:
            ``x``, ``i``, ``t`` (None for discrete), ``acceptance``, ``step_size``,
            ``evaluations``, ``seconds`` (:class:`~compgen.samplers.result.Reporter`).
        progress: show a progress bar over noise levels.

    Returns: a :class:`SampleResult` with ``x`` of shape (n, D) and diagnostics.
    """
    if not isinstance(component, Component):
        raise TypeError(f"sample: component must be a compgen Component, got {type(component).__name__}")
    if n < 1:
        raise ValueError(f"sample: n must be >= 1, got {n}")
    sampler, discrete = _sampler_for(component, sampler, settings), component.num_categories is not None
    if not discrete:
        check_normalizable(component, getattr(sampler, "t_min", None) or component.sampling_t_min)
    if x_init is None:
        x_init = (torch.randint(component.num_categories, (n, component.dim), generator=generator)
                  if discrete else torch.randn(n, component.dim, generator=generator))
    elif tuple(x_init.shape) != (n, component.dim):
        raise ValueError(f"sample: x_init must have shape ({n}, {component.dim}), got {tuple(x_init.shape)}")
    with torch.no_grad():
        return sampler.run(component, x_init, generator, callback, disable=not progress)


def _sampler_for(component: Component, sampler: str | Sampler | None, settings: dict) -> Sampler:
    """The sampler object: by name (default by the component's space) with ``settings``, or as
    given; raises if it is for the other kind of space."""
    discrete = component.num_categories is not None
    if sampler is None:
        sampler = "gibbs" if discrete else "mala"
    if isinstance(sampler, str):
        if sampler not in SAMPLERS:
            raise ValueError(f"sample: unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
        sampler = SAMPLERS[sampler](**settings)
    elif settings:
        raise TypeError(f"sample: settings {sorted(settings)} go to the sampler's constructor, "
                        "not beside a sampler object")
    if sampler.discrete != discrete:
        kind = {True: "discrete", False: "continuous"}
        raise ValueError(f"sample: {type(sampler).__name__} is for {kind[sampler.discrete]} components, "
                         f"but {component!r} is {kind[discrete]}")
    return sampler


__all__ = [
    "AnnealedHMC", "AnnealedLangevin", "AnnealedMALA", "AnnealedMCMC", "AnnealedUHMC",
    "AnnealedULA", "DiscreteMCMC", "Gibbs", "GibbsWithGradients", "Info",
    "ModelProposalMH", "RandomFlipMH", "NonFiniteError", "Reporter", "RepeatedReverse", "ReverseDiffusion",
    "SAMPLERS",
    "SampleResult", "Sampler", "State", "Target", "denoise", "hmc_step", "langevin_step",
    "log_acceptance", "sample",
]
