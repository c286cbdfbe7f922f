"""A composed density frozen at one noise level: what an MCMC kernel samples."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from compgen.algebra.component import Component


class State(NamedTuple):
    """A batch of chains with cached evaluations, so each kernel step evaluates the target once."""

    x: Tensor  # (B, D)
    energy: Tensor | None  # (B,); None for score-only targets
    score: Tensor  # (B, D)


def has_log_ratio(component: Component, line_points: int) -> bool:
    """Whether MH energy differences can be had: exact energies, or the score's line integral."""
    return line_points > 0 or component.has_energy


def check_line_points(line_points: int) -> None:
    """Raise unless ``line_points`` is 0 (exact energies) or >= 2 (a line integral needs two ends)."""
    if line_points == 1 or line_points < 0:
        raise ValueError(f"line_points must be 0 (exact energies) or >= 2, got {line_points}")


class Target:
    """``component`` at noise level ``t``: a pure function of x (the kernels count evaluations).

    Args:
        component: any composition.
        t: the noise level.
        line_points: if > 0, energy differences for Metropolis-Hastings are the line integral
            ``E(y) - E(x) = -int_0^1 s(x + u (y - x)) . (y - x) du`` by the trapezoid rule over
            this many points (Sjoberg et al. 2023), so score-only models can be MH-corrected.
            The two end points reuse cached scores; each interior point costs one evaluation.
            If 0, exact energies are used and must exist.

    ``t`` may be a float or a 0-d tensor (a compiled kernel takes it as a tensor, so that one
    compilation serves every level).
    """

    def __init__(self, component: Component, t: float | Tensor, line_points: int = 0):
        check_line_points(line_points)
        self.component, self.t, self.line_points = component, t, line_points
        self.has_log_ratio = has_log_ratio(component, line_points)
        self.log_ratio_evaluations = max(line_points - 2, 0)  # interior points of the line integral

    def evaluate(self, x: Tensor) -> State:
        energy, score = self.component.energy_and_score(x, self.t)
        return State(x, energy, score)

    def log_ratio(self, current: State, proposal: State) -> Tensor:
        """``log p(proposal) - log p(current)`` per chain, (B,)."""
        if self.line_points == 0:
            return current.energy - proposal.energy
        delta = proposal.x - current.x  # (B, D)
        n = self.line_points
        dots = [(current.score * delta).sum(-1)]
        for u in torch.linspace(0, 1, n)[1:-1].tolist():
            dots.append((self.component.score(current.x + u * delta, self.t) * delta).sum(-1))
        dots.append((proposal.score * delta).sum(-1))
        values = torch.stack(dots)  # (n, B)
        return torch.trapezoid(values, dx=1.0 / (n - 1), dim=0)
