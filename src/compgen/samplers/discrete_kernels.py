"""MCMC transition kernels over categorical vectors: pure functions of (target, state, settings).

- :func:`gibbs_update`: redraw one variable per chain from its exact conditional (K energy
  evaluations per chain).
- :func:`flip_step`: propose changing ``flips`` variables, each (variable, value) drawn
  uniformly, or (``informed``, Gibbs-with-Gradients, Grathwohl et al. 2021) from
  ``softmax(d / 2)`` where ``d`` is the first-order estimate of every single change's
  log-density gain, read from the gradient of the energy at the one-hot input; MH with the
  reverse proposal.
- :func:`proposal_mh_step`: Metropolis-Hastings whose proposal redraws a span of positions from
  a model (e.g. an autoregressive factor of the target); the proposal's density enters the
  ratio explicitly, so when the proposal model is a factor of the target it cancels.

Every decision is per chain. A NaN energy during the run is an impossible state (+inf), as
+inf is; a NaN energy of the initial states raises.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from compgen.algebra.component import Component
from compgen.samplers.kernels import Info, metropolis
from compgen.samplers.result import NonFiniteError
from compgen.samplers.target import State


class DiscreteTarget:
    """A discrete composition; counts energy evaluations per chain (rows / chains).

    A NaN energy of the initial states raises :class:`NonFiniteError`; during the run (``step``
    >= 0) a NaN energy makes that proposal impossible (+inf: rejected, or never drawn by Gibbs)
    and is counted in ``non_finite``, as the continuous kernels treat non-finite proposals.
    """

    def __init__(self, component: Component, chains: int):
        self.component, self.chains, self.evaluations, self.step = component, chains, 0.0, -1
        self.non_finite = 0

    def _checked(self, energy: Tensor) -> Tensor:
        nan = torch.isnan(energy)
        if self.step < 0 and nan.any():
            raise NonFiniteError(f"NaN energy of {self.component!r} in {int(nan.sum())} "
                                 f"of {len(energy)} initial states")
        self.non_finite = self.non_finite + nan.sum()  # a tensor: read once at the end, no sync here
        return energy.masked_fill(nan, math.inf)

    def energies(self, x: Tensor) -> Tensor:
        """E for (R, D) integer states; (R,)."""
        self.evaluations += x.shape[0] / self.chains
        return self._checked(self.component.energy(x))

    def evaluate(self, x: Tensor) -> State:
        """Energy and ``-dE/d onehot`` (the score, (B, D, K))."""
        self.evaluations += x.shape[0] / self.chains
        energy, score = self.component.energy_and_score(x)
        return State(x, self._checked(energy), score)


def _metropolis(current: State, proposal: State, log_alpha: Tensor,
                generator: torch.Generator | None) -> tuple[State, Info]:
    """MH on ``log_alpha`` (B,); NaN (e.g. from an impossible proposal) rejects."""
    log_alpha = torch.where(torch.isnan(log_alpha), -math.inf, log_alpha)
    accept_prob = log_alpha.clamp(max=0).exp()
    uniform = torch.rand(len(accept_prob), generator=generator).to(accept_prob)
    return metropolis(current, proposal, accept_prob, uniform)


def gibbs_update(target: DiscreteTarget, state: State, sites: Tensor,
                 generator: torch.Generator | None) -> tuple[State, Info]:
    """Redraw variable ``sites[b]`` of chain b from p(x_i | x_-i); sites: (B,) long."""
    x = state.x
    B, K = x.shape[0], target.component.num_categories
    rows = torch.arange(B).repeat_interleave(K)
    variants = x[rows].clone()  # (B*K, D): chain b with its site set to each value
    variants[torch.arange(B * K), sites[rows]] = torch.arange(K).repeat(B)
    energies = target.energies(variants).view(B, K)
    new = torch.multinomial(torch.softmax(-energies, -1), 1, generator=generator)[:, 0]
    x = x.clone()
    x[torch.arange(B), sites] = new
    ones = torch.ones(B)
    return State(x, energies[torch.arange(B), new], None), Info(ones, ones.bool())


def _flip_log_probs(state: State, num_categories: int, informed: bool) -> Tensor:
    """log q(i, k | x) over all (variable, value) changes, (B, D*K), current values excluded:
    uniform, or (informed) softmax of d/2 with ``d[i, k] = s[i, k] - s[i, x_i]``
    (s = -dE/d onehot)."""
    x = state.x
    if informed:
        d = state.score - state.score.gather(-1, x[..., None])  # (B, D, K)
    else:
        d = torch.zeros(*x.shape, num_categories)
    d = d.masked_fill(torch.nn.functional.one_hot(x, num_categories).bool(), -math.inf)
    return torch.log_softmax((d / 2).flatten(1), -1)


def flip_step(target: DiscreteTarget, state: State, flips: int, generator: torch.Generator | None,
              informed: bool = True) -> tuple[State, Info]:
    """One MH step changing ``flips`` distinct variables; ``informed`` is Gibbs-with-Gradients.

    The ``flips`` changes are drawn independently from q(. | x); a draw that picks one variable
    twice is rejected. The set's forward probability is then ``flips! * prod q(i_j, k_j | x)``
    and the reverse one ``flips! * prod q(i_j, x_{i_j} | y)``; the factorials cancel.
    """
    x = state.x
    K = target.component.num_categories
    log_q = _flip_log_probs(state, K, informed)
    picks = torch.multinomial(log_q.exp(), flips, replacement=True, generator=generator)  # (B, m)
    sites, values = picks // K, picks % K
    distinct = (sites.sort(-1).values.diff(dim=-1) != 0).all(-1)  # (B,)
    y = x.clone().scatter_(1, sites, values)
    proposal = target.evaluate(y) if informed else State(y, target.energies(y), None)
    log_fwd = log_q.gather(1, picks).sum(-1)
    log_rev = _flip_log_probs(proposal, K, informed).gather(1, sites * K + x.gather(1, sites)).sum(-1)
    log_alpha = state.energy - proposal.energy + log_rev - log_fwd
    return _metropolis(state, proposal, log_alpha.masked_fill(~distinct, -math.inf), generator)


def proposal_mh_step(target: DiscreteTarget, state: State, proposal_model: Component, start: int,
                     stop: int, generator: torch.Generator | None) -> tuple[State, Info]:
    """MH with a model proposal: redraw positions [start, stop) from ``proposal_model`` given the
    prefix (all of them: an independent proposal). ``proposal_model`` needs ``resample_span``
    and ``span_log_prob`` (e.g. :class:`~compgen.models.autoregressive.AutoregressiveModel`)."""
    y = proposal_model.resample_span(state.x, start, stop, generator)
    log_q_fwd = proposal_model.span_log_prob(y, start, stop)
    log_q_rev = proposal_model.span_log_prob(state.x, start, stop)
    proposal = State(y, target.energies(y), None)
    return _metropolis(state, proposal, state.energy - proposal.energy + log_q_rev - log_q_fwd, generator)
