"""Samplers for discrete compositions: Gibbs, Gibbs-with-Gradients, MH with uniform flips, and
MH with a model proposal.

One driver (:class:`DiscreteMCMC`) runs ``steps`` transitions of a kernel from
:mod:`compgen.samplers.discrete_kernels` over a batch of independent chains and returns each
chain's last state. What a step is depends on the sampler: a sweep over all D variables for
:class:`Gibbs`, one proposal for the others; compare them per energy evaluation or per second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from compgen.algebra.component import Component
from compgen.samplers.discrete_kernels import (
    DiscreteTarget,
    flip_step,
    gibbs_update,
    proposal_mh_step,
)
from compgen.samplers.kernels import Info
from compgen.samplers.result import Reporter, Sampler, SampleResult
from compgen.samplers.target import State


@dataclass
class DiscreteMCMC(Sampler):
    """Shared driver. ``steps``: transitions per chain."""

    steps: int = 100

    discrete = True
    needs_score = False

    def _step(self, target: DiscreteTarget, state: State, k: int,
              generator: torch.Generator | None) -> tuple[State, Info]:
        raise NotImplementedError

    def _check_settings(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")

    def _validate(self, component: Component) -> None:
        if component.num_categories is None:
            raise ValueError(f"{type(self).__name__} samples discrete components; {component!r} is "
                             "continuous (use an annealed sampler such as 'hmc')")
        component.require_energy(type(self).__name__)

    def run(self, component: Component, x: Tensor, generator: torch.Generator | None = None,
            callback: Callable[[dict], None] | None = None, disable: bool = True) -> SampleResult:
        """Run the chains from x (B, D) integer states; ``callback`` gets the samplers' one dict
        (:class:`~compgen.samplers.result.Reporter`) after each step, ``i`` the step."""
        self._validate(component)
        report = Reporter(callback)
        target = DiscreteTarget(component, x.shape[0])
        state = target.evaluate(x) if self.needs_score else State(x, target.energies(x), None)
        acceptance = torch.zeros(self.steps)
        for k in tqdm(range(self.steps), disable=disable, desc=type(self).__name__):
            target.step = k
            state, info = self._step(target, state, k, generator)
            acceptance[k] = info.accept_prob.mean()
            report(state.x, k, None, acceptance[k].item(), None, target.evaluations)
        return SampleResult(state.x, acceptance, target.evaluations, report.elapsed(),
                            non_finite=int(target.non_finite))


@dataclass
class Gibbs(DiscreteMCMC):
    """Gibbs sampling; one step is D single-variable updates from the exact conditionals.

    ``scan="systematic"`` visits variables 0..D-1 in order; ``"random"`` picks each update's
    variable uniformly at random, independently per chain.
    """

    scan: str = "systematic"

    def _check_settings(self) -> None:
        super()._check_settings()
        if self.scan not in ("systematic", "random"):
            raise ValueError(f"scan must be 'systematic' or 'random', got {self.scan!r}")

    def _step(self, target, state, k, generator):
        B, D = state.x.shape
        for i in range(D):
            sites = (torch.full((B,), i) if self.scan == "systematic"
                     else torch.randint(D, (B,), generator=generator))
            state, info = gibbs_update(target, state, sites, generator)
        return state, info


@dataclass
class GibbsWithGradients(DiscreteMCMC):
    """Gibbs-with-Gradients (Grathwohl et al. 2021), binary or categorical; ``flips`` variables
    change per proposal."""

    flips: int = 1

    needs_score = True

    def _validate(self, component: Component) -> None:
        super()._validate(component)
        if not 1 <= self.flips <= component.dim:
            raise ValueError(f"flips must be in [1, {component.dim}], got {self.flips}")

    def _step(self, target, state, k, generator):
        return flip_step(target, state, self.flips, generator, informed=True)


@dataclass
class RandomFlipMH(GibbsWithGradients):
    """Metropolis-Hastings changing ``flips`` uniformly chosen variables to uniformly chosen new
    values: Gibbs-with-Gradients without the gradient, its baseline."""

    needs_score = False

    def _step(self, target, state, k, generator):
        return flip_step(target, state, self.flips, generator, informed=False)


@dataclass
class ModelProposalMH(DiscreteMCMC):
    """Metropolis-Hastings with a model as the proposal, e.g. one autoregressive factor of a
    product proposing and the other factors accepting.

    Args:
        proposal: a model with ``resample_span`` and ``span_log_prob`` over the same space.
        span: positions redrawn per proposal (a start drawn uniformly each step); ``None``
            redraws everything: an independent proposal.
    """

    proposal: Component | None = None
    span: int | None = None

    def _validate(self, component: Component) -> None:
        super()._validate(component)
        p = self.proposal
        if p is None or not (hasattr(p, "resample_span") and hasattr(p, "span_log_prob")):
            raise ValueError("ModelProposalMH: proposal must be a model with resample_span and "
                             f"span_log_prob (e.g. an AutoregressiveModel), got {p!r}")
        if (p.dim, p.num_categories) != (component.dim, component.num_categories):
            raise ValueError(f"ModelProposalMH: proposal {p!r} is over {p.num_categories}^{p.dim}, "
                             f"the target over {component.num_categories}^{component.dim}")
        if self.span is not None and not 1 <= self.span <= component.dim:
            raise ValueError(f"span must be in [1, {component.dim}] or None, got {self.span}")

    def _step(self, target, state, k, generator):
        d = state.x.shape[1]
        span = d if self.span is None else self.span
        start = int(torch.randint(d - span + 1, (), generator=generator))
        return proposal_mh_step(target, state, self.proposal, start, start + span, generator)
