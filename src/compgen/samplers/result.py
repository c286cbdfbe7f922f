"""What every sampler returns, and the interface every sampler implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from compgen.algebra.component import Component


class NonFiniteError(FloatingPointError):
    """Samples became NaN or infinite during sampling."""


@dataclass
class SampleResult:
    """Samples plus diagnostics.

    Attributes:
        x: (n, D) samples at the last noise level.
        levels: (L,) noise levels visited, decreasing.
        acceptance: (L,) mean MH acceptance probability per level; for unadjusted samplers the
            probability MH would have had (NaN where it cannot be computed).
        step_sizes: (L,) step size used at each level.
        evaluations: evaluations of the composed density (energy and/or score) per chain batch.
        wall_time: seconds.
        resamplings: how many times SMC resampled the chains (0 without ``resample``).
    """

    x: Tensor
    levels: Tensor
    acceptance: Tensor
    step_sizes: Tensor
    evaluations: int
    wall_time: float
    resamplings: int = 0

    @property
    def samples_per_second(self) -> float:
        return self.x.shape[0] / self.wall_time

    def summary(self) -> str:
        acc = self.acceptance[~self.acceptance.isnan()]
        acc_text = f"acceptance {acc.mean():.2f}" if len(acc) else "acceptance n/a"
        return (f"{self.x.shape[0]} samples, {len(self.levels)} levels, {self.evaluations} "
                f"evaluations, {acc_text}, {self.resamplings} resamplings, {self.wall_time:.2f}s")


def check_finite(x: Tensor, level: int, t: float, step: int) -> None:
    """Raise :class:`NonFiniteError` naming the level and step if any chain is not finite."""
    bad = ~torch.isfinite(x).all(-1)
    if bad.any():
        raise NonFiniteError(
            f"non-finite samples in {int(bad.sum())} of {x.shape[0]} chains at level {level} "
            f"(t={t:.4g}), step {step}; try a smaller step_size, or check that the composition "
            "is normalizable (a negated factor must decay slower than the others)")



def noise_levels(component: Component, levels: int, t_min: float | None) -> Tensor:
    """The sampler's grid: ``levels`` log-SNR-spaced levels from t=1 down to ``t_min``, which
    defaults to the lowest level every part of the composition is trustworthy at. Returns (L,)."""
    t_min = component.sampling_t_min if t_min is None else t_min
    return component.schedule.timesteps(levels, t_min)


class Sampler:
    """Anything with ``run(component, x_init, generator, callback, disable) -> SampleResult``
    (``ChainResult`` for discrete samplers, which set ``discrete = True``)."""

    discrete = False

    def run(self, component: Component, x: Tensor, generator: torch.Generator | None = None,
            callback: Callable[[dict], None] | None = None, disable: bool = True) -> SampleResult:
        raise NotImplementedError


@dataclass
class ChainResult:
    """Samples of a discrete sampler plus diagnostics.

    Attributes:
        x: (n, D) integer samples: each chain's last state.
        acceptance: (S,) mean acceptance probability per step (1 for Gibbs).
        evaluations: evaluations of the composed energy per chain.
        wall_time: seconds.
    """

    x: Tensor
    acceptance: Tensor
    evaluations: float
    wall_time: float

    @property
    def samples_per_second(self) -> float:
        return self.x.shape[0] / self.wall_time

    def summary(self) -> str:
        return (f"{self.x.shape[0]} samples, {len(self.acceptance)} steps, {self.evaluations:.0f} "
                f"evaluations, acceptance {self.acceptance.mean():.2f}, {self.wall_time:.2f}s")
