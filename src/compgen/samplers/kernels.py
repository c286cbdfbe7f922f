"""MCMC transition kernels at one noise level: pure functions of (target, state, settings).

Two kernels cover the four annealed samplers:

- :func:`langevin_step`: ULA (``metropolis_adjust=False``) and MALA (``metropolis_adjust=True``);
  ``x' = x + eps s(x) + noise_scale sqrt(2 eps) xi``.
- :func:`hmc_step`: U-HMC (no MH, momentum kept between steps) and HMC (leapfrog + MH on the
  Hamiltonian ``E(x) + |p|^2 / 2``, momentum negated on rejection).

Every MH decision is per chain. A non-finite proposal is rejected, never accepted.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from compgen.samplers.target import State, Target


class Info(NamedTuple):
    accept_prob: Tensor  # (B,); for unadjusted kernels what MH would have accepted (NaN if unknown)
    accepted: Tensor  # (B,) bool


def _select(accept: Tensor, new: Tensor | None, old: Tensor | None) -> Tensor | None:
    if new is None:
        return None
    mask = accept.view(-1, *([1] * (new.dim() - 1)))
    return torch.where(mask, new, old)


def log_acceptance(target: Target, current: State, proposal: State, log_correction: Tensor) -> Tensor:
    """``log p(y)/p(x) + log_correction`` per chain; -inf for a non-finite proposal."""
    log_alpha = target.log_ratio(current, proposal) + log_correction
    finite = torch.isfinite(proposal.x).all(-1) & torch.isfinite(proposal.score).all(-1)
    return torch.where(finite & ~torch.isnan(log_alpha), log_alpha, -math.inf)


def _finish(target: Target, current: State, proposal: State, log_correction: Tensor,
            generator: torch.Generator | None, adjust: bool) -> tuple[State, Info]:
    """MH accept/reject per chain, or (``adjust=False``) always move.

    Unadjusted kernels still report the acceptance probability MH would have had, when the
    target can compute it: it measures their bias and lets their step size be tuned.
    """
    n = current.x.shape[0]
    if target.has_log_ratio:
        accept_prob = log_acceptance(target, current, proposal, log_correction).clamp(max=0).exp()
    else:
        accept_prob = torch.full((n,), math.nan)
    if not adjust:
        return proposal, Info(accept_prob, torch.ones(n, dtype=torch.bool))
    return metropolis(current, proposal, accept_prob, generator)


def metropolis(current: State, proposal: State, accept_prob: Tensor,
               generator: torch.Generator | None) -> tuple[State, Info]:
    """Accept each chain's proposal with its probability (B,); rejected chains keep ``current``."""
    accepted = torch.rand(accept_prob.shape[0], generator=generator).to(accept_prob) < accept_prob
    state = State(*(_select(accepted, new, old) for new, old in zip(proposal, current, strict=True)))
    return state, Info(accept_prob, accepted)


def langevin_step(target: Target, state: State, step_size: float, generator: torch.Generator | None,
                  metropolis_adjust: bool = True, noise_scale: float = 1.0) -> tuple[State, Info]:
    """One (Metropolis-adjusted) Langevin step (Roberts & Tweedie 1996).

    Proposal ``y ~ N(x + eps s(x), 2 eps noise_scale^2 I)``; MALA corrects with the reverse
    proposal density ``q(x | y)`` of the same variance.
    """
    noise = torch.randn(state.x.shape, generator=generator).to(state.x)
    mean_fwd = state.x + step_size * state.score
    proposal = target.evaluate(mean_fwd + noise_scale * math.sqrt(2 * step_size) * noise)
    mean_bwd = proposal.x + step_size * proposal.score
    var = 2 * step_size * noise_scale**2
    log_q_fwd = -((proposal.x - mean_fwd) ** 2).sum(-1) / (2 * var)
    log_q_bwd = -((state.x - mean_bwd) ** 2).sum(-1) / (2 * var)
    return _finish(target, state, proposal, log_q_bwd - log_q_fwd, generator, metropolis_adjust)


def hmc_step(target: Target, state: State, momentum: Tensor, step_size: float, n_leapfrog: int,
             generator: torch.Generator | None, metropolis_adjust: bool = True,
             persistence: float = 0.0) -> tuple[State, Tensor, Info]:
    """One HMC step (Neal 2011): partial momentum refresh, leapfrog, optional MH.

    ``p <- persistence * p + sqrt(1 - persistence^2) xi`` (0 = full refresh). With MH, the
    acceptance uses the full Hamiltonian (kinetic energy included) and a rejected chain keeps
    its position with negated momentum, which keeps partial refresh reversible (Horowitz 1991).

    Returns: the new state, momentum (B, D) and info.
    """
    xi = torch.randn(momentum.shape, generator=generator).to(momentum)
    p0 = persistence * momentum + math.sqrt(1 - persistence**2) * xi
    p, proposal = p0 + 0.5 * step_size * state.score, state
    for i in range(n_leapfrog):
        proposal = target.evaluate(proposal.x + step_size * p)
        p = p + (step_size if i < n_leapfrog - 1 else 0.5 * step_size) * proposal.score
    kinetic_change = 0.5 * (p0**2).sum(-1) - 0.5 * (p**2).sum(-1)
    new_state, info = _finish(target, state, proposal, kinetic_change, generator, metropolis_adjust)
    new_momentum = torch.where(info.accepted[:, None], p, -p0)
    return new_state, new_momentum, info
