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
    """``component`` at noise level ``t``; counts evaluations of the composed density, and those
    whose energy or score is not finite (``non_finite``; the kernels reject such proposals).

    Args:
        component: any composition.
        t: the noise level.
        line_points: if > 0, energy differences for Metropolis-Hastings are the line integral
            ``E(y) - E(x) = -int_0^1 s(x + u (y - x)) . (y - x) du`` by the trapezoid rule over
            this many points (Sjoberg et al. 2023), so score-only models can be MH-corrected.
            The two end points reuse cached scores; each interior point costs one evaluation.
            If 0, exact energies are used and must exist.
    """

    def __init__(self, component: Component, t: float, line_points: int = 0):
        check_line_points(line_points)
        self.component, self.t, self.line_points = component, t, line_points
        self.evaluations, self.non_finite = 0, 0
        self.has_log_ratio = has_log_ratio(component, line_points)

    def evaluate(self, x: Tensor) -> State:
        energy, score = self.component.energy_and_score(x, self.t)
        self.evaluations += 1
        finite = torch.isfinite(score).all(-1) & (True if energy is None else torch.isfinite(energy))
        self.non_finite = self.non_finite + (~finite).sum()  # a tensor: read once per level, no sync here
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
            self.evaluations += 1
        dots.append((proposal.score * delta).sum(-1))
        values = torch.stack(dots)  # (n, B)
        return torch.trapezoid(values, dx=1.0 / (n - 1), dim=0)
