"""Ancestral reverse diffusion with the composed score: the naive baseline for compositions.

For a single model this samples p_0. For a product it does NOT: it follows the sum of the
factors' noised scores, and the noised product is not the product of the noised factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from compgen.algebra.component import Component, EvaluationError
from compgen.samplers.result import Reporter, Sampler, SampleResult, check_finite, noise_levels, radius
from compgen.schedule import VPSchedule


def tweedie(schedule: VPSchedule, x: Tensor, score: Tensor, t: float) -> Tensor:
    """Tweedie's estimate of the clean point, ``E[x_0 | x_t] = (x_t + sigma_t^2 score) / alpha_t``."""
    tt = torch.tensor([t], dtype=torch.float64)
    return (x + schedule.sigma(tt).item() ** 2 * score) / schedule.alpha(tt).item()


def denoise(component: Component, x: Tensor, t: float) -> Tensor:
    """Samples (B, D) at level t -> Tweedie's estimate of their clean points (B, D).

    Applied to a composition's samples at its last level, it removes the sigma_{t_min} noise
    they still carry, as k-diffusion's final step to sigma = 0 does. One score evaluation.
    """
    return tweedie(component.schedule, x, component.score(x, t), t).detach()


def ancestral_kernel(schedule: VPSchedule, x: Tensor, score: Tensor, t: float, s: float
                     ) -> tuple[Tensor, float, float, float]:
    """The DDPM reverse kernel from level t to s < t (Ho et al. 2020; Kingma et al. 2021, eq. 33).

    Predict ``x0_hat = (x + sigma_t^2 score) / alpha_t`` and use the forward posterior
    ``q(x_s | x_t, x0_hat)``. Returns its mean (B, D) and std, and the forward kernel
    ``x_t | x_s ~ N(a_ts x_s, var_ts)`` as (a_ts, var_ts), which SMC weights need.
    """
    tt = torch.tensor([t, s], dtype=torch.float64)
    (a_t, a_s), (sig_t, sig_s) = schedule.alpha(tt).tolist(), schedule.sigma(tt).tolist()
    x0_hat = tweedie(schedule, x, score, t)
    a_ts = a_t / a_s
    var_ts = sig_t**2 - a_ts**2 * sig_s**2
    mean = (a_s * var_ts / sig_t**2) * x0_hat + (a_ts * sig_s**2 / sig_t**2) * x
    return mean, math.sqrt(var_ts * sig_s**2 / sig_t**2), a_ts, var_ts


@dataclass
class ReverseDiffusion(Sampler):
    """Ancestral sampling: :func:`ancestral_kernel` from t=1 to ``t_min`` with the composed score.

    With ``known = (indices, values)`` those coordinates are overwritten by their clean values
    at the start and after every step (by :meth:`Component.clamp`'s ``full``, the one
    conditioning mechanism): inpainting, as Diffuser did for start and goal states. The other
    coordinates follow the score given the known ones at every level, which approximates, but is
    not, sampling the conditional distribution.
    """

    levels: int = 200
    t_min: float | None = None  # None: the composition's own, as for the annealed samplers
    known: tuple[list[int], Tensor] | None = None

    def _check_settings(self) -> None:
        if self.levels < 2:
            raise ValueError(f"ReverseDiffusion needs levels >= 2, got {self.levels}")

    def run(self, component, x, generator=None, callback=None, disable=True):
        report = Reporter(callback)
        ts = noise_levels(component, self.levels, self.t_min).tolist()
        clamped = None if self.known is None else component.clamp(*self.known)
        inpaint = (lambda x: x) if clamped is None else (lambda x: clamped.full(x[:, clamped.free]))
        x = inpaint(x)
        radii = torch.full((len(ts),), radius(x))
        for i in tqdm(range(len(ts) - 1), disable=disable, desc="ReverseDiffusion"):
            try:
                score = component.score(x, ts[i])
            except EvaluationError as err:
                raise err.at(i, ts[i], 0) from err
            mean, std, _, _ = ancestral_kernel(component.schedule, x, score, ts[i], ts[i + 1])
            x = inpaint(mean + std * torch.randn(x.shape, generator=generator).to(x))
            check_finite(torch.isfinite(x).all(-1), i, ts[i], 0)
            radii[i + 1] = radius(x)
            report(x, i, ts[i + 1], math.nan, None, i + 1)
        return SampleResult(x.detach(), torch.full((len(ts),), math.nan), len(ts) - 1, report.elapsed(),
                            torch.tensor(ts), radius=radii)
