"""MCMC transition kernels at one noise level: pure functions of (target, state, noise, settings).

Two kernels cover the four annealed samplers:

- :func:`langevin_step`: ULA (``metropolis_adjust=False``) and MALA (``metropolis_adjust=True``);
  ``x' = x + eps s(x) + noise_scale sqrt(2 eps) xi``.
- :func:`hmc_step`: U-HMC (no MH, momentum kept between steps) and HMC (leapfrog + MH on the
  Hamiltonian ``E(x) + |p|^2 / 2``, momentum negated on rejection).

A step's random numbers are drawn apart from it (:func:`draw_noise`, as blackjax splits a key):
the step is then a pure function of tensors, which the annealed driver can ``torch.compile``
with the same random stream as the eager path. Every MH decision is per chain. A non-finite
proposal is rejected, never accepted, and counted.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from compgen.samplers.target import State, Target


class Noise(NamedTuple):
    """The random numbers of one kernel step."""

    normal: Tensor  # (B, D): the Langevin noise, or the fresh momentum
    uniform: Tensor | None  # (B,): the MH coin flips; None for unadjusted kernels


class Info(NamedTuple):
    accept_prob: Tensor  # (B,); for unadjusted kernels what MH would have accepted (NaN if unknown)
    accepted: Tensor  # (B,) bool
    non_finite: Tensor | None = None  # (B,) bool: the proposal's energy or score was not finite
    evaluations: int = 0  # evaluations of the composed density the step took


def draw_noise(x: Tensor, generator: torch.Generator | None, metropolis_adjust: bool) -> Noise:
    """The normal draws (B, D) of one step, then (with MH) its uniforms (B,)."""
    normal = torch.randn(x.shape, generator=generator).to(x)
    uniform = torch.rand(x.shape[0], generator=generator).to(x) if metropolis_adjust else None
    return Noise(normal, uniform)


def _select(accept: Tensor, new: Tensor | None, old: Tensor | None) -> Tensor | None:
    if new is None:
        return None
    mask = accept.view(-1, *([1] * (new.dim() - 1)))
    return torch.where(mask, new, old)


def finite(state: State) -> Tensor:
    """(B,) whether each chain's score and energy are finite (at a non-finite point they are
    not). One check of a sum per chain, not one per coordinate: a sum with an infinite or NaN
    term is not finite (a finite sum that overflows counts as non-finite, rejecting the absurd)."""
    total = state.score.sum(-1)
    return torch.isfinite(total if state.energy is None else total + state.energy)


def log_acceptance(target: Target, current: State, proposal: State, log_correction: Tensor,
                   proposal_finite: Tensor | None = None) -> Tensor:
    """``log p(y)/p(x) + log_correction`` per chain; -inf for a non-finite proposal (and where
    a line integral's interior point made it NaN). ``proposal_finite``: :func:`finite` of the
    proposal, if the caller has it."""
    log_alpha = target.log_ratio(current, proposal) + log_correction
    if target.line_points:  # a non-finite interior score: NaN with finite end points
        log_alpha = log_alpha.nan_to_num(nan=-math.inf, posinf=math.inf, neginf=-math.inf)
    ok = finite(proposal) if proposal_finite is None else proposal_finite
    return torch.where(ok, log_alpha, -math.inf)


def _finish(target: Target, current: State, proposal: State, log_correction: Tensor,
            uniform: Tensor | None, evaluations: int) -> tuple[State, Info]:
    """MH accept/reject per chain with the coin flips ``uniform``, or (None) always move.

    Unadjusted kernels still report the acceptance probability MH would have had, when the
    target can compute it: it measures their bias and lets their step size be tuned.
    """
    n = current.x.shape[0]
    ok = finite(proposal)
    evaluations += target.log_ratio_evaluations
    if target.has_log_ratio:
        accept_prob = log_acceptance(target, current, proposal, log_correction, ok).clamp(max=0).exp()
    else:
        accept_prob = torch.full((n,), math.nan)
    if uniform is None:
        return proposal, Info(accept_prob, torch.ones(n, dtype=torch.bool), ~ok, evaluations)
    state, info = metropolis(current, proposal, accept_prob, uniform)
    return state, info._replace(non_finite=~ok, evaluations=evaluations)


def metropolis(current: State, proposal: State, accept_prob: Tensor, uniform: Tensor) -> tuple[State, Info]:
    """Accept each chain's proposal with its probability (B,) where ``uniform`` (B,) falls below
    it; rejected chains keep ``current``."""
    accepted = uniform < accept_prob
    state = State(*(_select(accepted, new, old) for new, old in zip(proposal, current, strict=True)))
    return state, Info(accept_prob, accepted)


def langevin_step(target: Target, state: State, step_size: float | Tensor, noise: Noise,
                  noise_scale: float = 1.0) -> tuple[State, Info]:
    """One Langevin step (Roberts & Tweedie 1996), Metropolis-adjusted (MALA) when ``noise``
    has uniforms.

    Proposal ``y ~ N(x + eps s(x), 2 eps noise_scale^2 I)``; MALA corrects with the reverse
    proposal density ``q(x | y)`` of the same variance.
    """
    mean_fwd = state.x + step_size * state.score
    var = 2 * noise_scale**2 * step_size
    proposal = target.evaluate(mean_fwd + var**0.5 * noise.normal)
    mean_bwd = proposal.x + step_size * proposal.score
    # log q(x | y) - log q(y | x)
    forward, backward = ((proposal.x - mean_fwd) ** 2).sum(-1), ((state.x - mean_bwd) ** 2).sum(-1)
    log_correction = (forward - backward) / (2 * var)
    return _finish(target, state, proposal, log_correction, noise.uniform, 1)


def hmc_step(target: Target, state: State, momentum: Tensor, step_size: float | Tensor, n_leapfrog: int,
             noise: Noise, persistence: float = 0.0) -> tuple[State, Tensor, Info]:
    """One HMC step (Neal 2011): partial momentum refresh, leapfrog, and MH when ``noise`` has
    uniforms.

    ``p <- persistence * p + sqrt(1 - persistence^2) xi`` (0 = full refresh). With MH, the
    acceptance uses the full Hamiltonian (kinetic energy included) and a rejected chain keeps
    its position with negated momentum, which keeps partial refresh reversible (Horowitz 1991).

    Returns: the new state, momentum (B, D) and info.
    """
    p0 = noise.normal if persistence == 0 else (
        persistence * momentum + math.sqrt(1 - persistence**2) * noise.normal)
    p, proposal = p0 + 0.5 * step_size * state.score, state
    for i in range(n_leapfrog):
        proposal = target.evaluate(proposal.x + step_size * p)
        p = p + (step_size if i < n_leapfrog - 1 else 0.5 * step_size) * proposal.score
    kinetic_change = 0.5 * (p0**2).sum(-1) - 0.5 * (p**2).sum(-1)
    new_state, info = _finish(target, state, proposal, kinetic_change, noise.uniform, n_leapfrog)
    new_momentum = torch.where(info.accepted[:, None], p, -p0)
    return new_state, new_momentum, info
