"""Samplers for compositions: annealed MCMC (ULA, MALA, U-HMC, HMC) and reverse diffusion over
R^D; Gibbs, Gibbs-with-Gradients and MH with a model proposal over categorical vectors."""

from __future__ import annotations

import dataclasses
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
from compgen.samplers.kernels import Info, Noise, draw_noise, hmc_step, langevin_step, log_acceptance
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
           chunk_size: int | None = None, **settings) -> SampleResult:
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
        chunk_size: run the chains this many at a time, one chunk after the other, so memory
            is bounded by the chunk (:meth:`SampleResult.concatenate` joins the results). The
            chunks draw from ``generator`` in turn, so the samples are not those of one
            unchunked run (the same distribution), and SMC resamples within each chunk.

    Returns: a :class:`SampleResult` with ``x`` of shape (n, D) and diagnostics.
    """
    if not isinstance(component, Component):
        raise TypeError(f"sample: component must be a compgen Component, got {type(component).__name__}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"sample: n must be >= 1 and an integer (the number of chains), got {n!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"sample: generator must be a torch.Generator or None, "
                        f"got {type(generator).__name__}")
    sampler, discrete = _sampler_for(component, sampler, settings), component.num_categories is not None
    if not discrete:
        check_normalizable(component, getattr(sampler, "t_min", None) or component.sampling_t_min)
    if x_init is None:
        x_init = (torch.randint(component.num_categories, (n, component.dim), generator=generator)
                  if discrete else torch.randn(n, component.dim, generator=generator))
    else:
        _check_x_init(x_init, n, component.dim, discrete)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"sample: chunk_size must be a positive integer or None, got {chunk_size!r}")
    with torch.no_grad():
        results = [sampler.run(component, chunk, generator, callback, disable=not progress)
                   for chunk in x_init.split(chunk_size or n)]
    return results[0] if len(results) == 1 else SampleResult.concatenate(results)


def _check_x_init(x_init, n: int, dim: int, discrete: bool) -> None:
    if not isinstance(x_init, torch.Tensor):
        raise TypeError(f"sample: x_init must be a tensor of shape ({n}, {dim}), got {type(x_init).__name__}")
    if tuple(x_init.shape) != (n, dim):
        raise ValueError(f"sample: x_init must have shape ({n}, {dim}), got {tuple(x_init.shape)}")
    if discrete and x_init.dtype.is_floating_point:
        raise TypeError(f"sample: x_init of a discrete component must hold integer categories, "
                        f"got {x_init.dtype}")
    if not discrete and not torch.isfinite(x_init).all():
        rows = int((~torch.isfinite(x_init).all(-1)).sum())
        raise ValueError(f"sample: x_init has non-finite values in {rows} of {n} chains")


def _sampler_for(component: Component, sampler: str | Sampler | None, settings: dict) -> Sampler:
    """The sampler object: by name (default by the component's space) with ``settings``, or as
    given; raises if it is for the other kind of space."""
    discrete = component.num_categories is not None
    if sampler is None:
        sampler = "gibbs" if discrete else "mala"
    if isinstance(sampler, str):
        if sampler not in SAMPLERS:
            raise ValueError(f"sample: unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
        known = {f.name for f in dataclasses.fields(SAMPLERS[sampler])}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"sample: {sampler!r} has no setting {', '.join(map(repr, unknown))}; "
                            f"its settings are {sorted(known)}")
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
    "AnnealedULA", "DiscreteMCMC", "Gibbs", "GibbsWithGradients", "Info", "Noise", "draw_noise",
    "ModelProposalMH", "RandomFlipMH", "NonFiniteError", "Reporter", "RepeatedReverse", "ReverseDiffusion",
    "SAMPLERS",
    "SampleResult", "Sampler", "State", "Target", "denoise", "hmc_step", "langevin_step",
    "log_acceptance", "sample",
]
