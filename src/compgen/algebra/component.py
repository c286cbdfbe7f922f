"""The one protocol every density in compgen implements.

A component is an unnormalized density over R^dim at every noise level t in [0, 1],
``p_t(x) ∝ exp(-E(x, t))``, with score ``s(x, t) = grad_x log p_t(x) = -grad_x E(x, t)``.
Components are pure functions of ``(x, t)``: no hidden state changes between calls, so a
component can be evaluated in another process or on another machine.

Discrete components (:class:`compgen.algebra.discrete.DiscreteComponent`) follow the same
protocol over categorical vectors, with ``num_categories`` set; their "score" is the gradient
with respect to a one-hot encoding, and they have no noise levels.

A condition ``cond`` (a class label or a vector, e.g. a sentence embedding) is part of every
call: conditional models (diffusion networks trained with one) use it, compositions pass it to
every operand, and a component that takes none raises if it is given one. ``m.given(c)`` binds
one (:class:`~compgen.algebra.compose.Conditioned`), so a composition can mix conditions.

Score-only components (``has_energy = False``) still compose by products and powers, since
scores add, but anything that needs energy values (mixtures, Metropolis-Hastings) raises
:class:`EnergyRequiredError` naming the score-only part.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from compgen.schedule import DEFAULT_SCHEDULE, VPSchedule

if TYPE_CHECKING:
    from compgen.algebra.compose import Clamped, Mixture, Power, Product
    from compgen.algebra.normalizer import GaussianTerms


Condition = Tensor | int | None
Pending = Callable[[], tuple[Tensor | None, Tensor]]
"""What :meth:`Component.submit` returns: call it to wait for (energy or None, score)."""


def with_condition(cond: Condition) -> dict:
    """Keyword arguments passing ``cond`` on: none when it is None, so components written
    without a ``cond`` parameter (unconditional ones) keep working inside compositions."""
    return {} if cond is None else {"cond": cond}


class EnergyRequiredError(ValueError):
    """An operation needs energy values but a component only provides scores."""


class EvaluationError(RuntimeError):
    """A component could not be evaluated (its remote worker failed too often, or timed out).
    Samplers re-raise it with the noise level and step at which it happened."""

    def at(self, level: int, t: float, step: int | None) -> EvaluationError:
        """The same error, saying where in a sampler run it happened."""
        where = f"at noise level {level} (t={t:.4g})" + ("" if step is None else f", step {step}")
        return EvaluationError(f"{self} {where}; nothing was returned")


class Component:
    """Base class: subclasses implement ``energy`` (if they can) and may override ``score``.

    Attributes:
        dim: dimension D of x.
        has_energy: whether ``energy`` is available (else only ``score``).
        t_min: the lowest noise level at which the component is trustworthy; samplers stop
            there by default (a composition takes the largest over its parts).
        exact: whether the energy is exact at every noise level (analytic densities), so that
            energy differences across levels can be trusted (SMC resampling uses them).
        schedule: the forward noising process the component's noise levels refer to.
        num_categories: None for densities over R^dim; K for distributions over
            {0, ..., K-1}^dim (discrete components).
        normalized: whether exp(-E) integrates (sums) to one at every noise level.
        batches_conditions: whether ``cond`` may hold one condition per row of x ((B,) labels
            or (B, ...) vectors), so that a product of the model under several conditions can
            evaluate them all in one batched call.
    """

    dim: int
    has_energy: bool = True
    exact: bool = False
    t_min: float = 1e-3
    schedule: VPSchedule = DEFAULT_SCHEDULE
    num_categories: int | None = None
    normalized: bool = False
    batches_conditions: bool = False

    # -- evaluation -------------------------------------------------------------------------
    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        """E(x, t | cond) for x of shape (B, D); returns (B,)."""
        raise EnergyRequiredError(f"{self!r} is score-only: it has no energy")

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        """-grad_x E(x, t | cond) for x of shape (B, D); returns (B, D)."""
        return self.energy_and_score(x, t, **with_condition(cond))[1]

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        """Both at once (one forward and one backward pass for networks).

        Returns: energy (B,) or None for score-only components, and score (B, D).
        """
        if not self.has_energy:
            return None, self.score(x, t, **with_condition(cond))
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            energy = self.energy(x, t, **with_condition(cond))
            (grad,) = torch.autograd.grad(energy.sum(), x)
        return energy.detach(), -grad

    def submit(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Pending:
        """Start ``energy_and_score(x, t, cond)``; calling the result waits for it.

        A local component computes when the result is called; a remote one
        (:class:`compgen.distributed.RemoteComponent`) sends its request now. A product submits all
        its factors before it waits for any, so K remote factors cost one round trip and the
        local factors are computed while the remote ones run.
        """
        return functools.partial(self.energy_and_score, x, t, **with_condition(cond))

    def gaussian_terms(self, t: float) -> GaussianTerms | None:
        """This density at level t as an explicit weighted sum of Gaussians, when it is one
        (analytic mixtures, their products and mixtures); None otherwise. Its mass is exact Z_t."""
        return None

    def tail_precision(self, w: Tensor, t: float) -> Tensor | None:
        """How fast log p_t falls far out: ``log p_t(r u) ~ -c(u) r^2 / 2`` for unit u, as c at
        squared directions ``w = u^2`` (M, D) -> (M,); None where the tails are unknown (learned
        models). Known for Gaussian-mixture algebra (exact for diagonal covariances)."""
        return None

    # -- introspection ----------------------------------------------------------------------
    def leaves(self) -> list[Component]:
        """The components this one is built from (itself for a leaf)."""
        return [self]

    @property
    def sampling_t_min(self) -> float:
        """The lowest noise level every part is trustworthy at."""
        return max(leaf.t_min for leaf in self.leaves())

    @property
    def all_exact(self) -> bool:
        return all(leaf.exact for leaf in self.leaves())

    def score_only_leaves(self) -> list[Component]:
        return [leaf for leaf in self.leaves() if not leaf.has_energy]

    def require_energy(self, why: str) -> None:
        """Raise :class:`EnergyRequiredError` naming every score-only part, if any."""
        missing = self.score_only_leaves()
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise EnergyRequiredError(
                f"{why} needs energies, but {names} {'is' if len(missing) == 1 else 'are'} "
                "score-only; use an energy-parameterized model (e.g. cg.EnergyDiffusion)"
            )

    # -- the algebra --------------------------------------------------------------------------
    def __and__(self, other: Component) -> Product:
        from compgen.algebra.compose import Product

        return Product([self, other])

    def __or__(self, other: Component) -> Mixture:
        from compgen.algebra.compose import Mixture

        return Mixture([self, other])

    def __invert__(self) -> Power:
        from compgen.algebra.compose import Power

        return Power(self, -1.0)

    def __pow__(self, exponent: float) -> Power:
        from compgen.algebra.compose import Power

        return Power(self, exponent)

    def clamp(self, indices, values: Tensor) -> Clamped:
        """Condition on coordinates ``indices`` equal to ``values``: a component over the rest
        (see :class:`compgen.algebra.compose.Clamped`; ``.full(x)`` puts them back)."""
        from compgen.algebra.compose import Clamped

        return Clamped(self, indices, values)

    # -- helpers for subclasses ----------------------------------------------------------------
    def _unconditional(self, cond: Condition) -> None:
        """Raise if a component that takes no condition is given one."""
        if cond is not None:
            raise ValueError(f"{self!r} takes no condition, got cond={_shown(cond)}")

    def _check_x(self, x: Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{self!r} expects x of shape (batch, {self.dim}), got {tuple(x.shape)}"
            )


def _shown(cond: Condition) -> str:
    return repr(cond) if isinstance(cond, int) else f"tensor{tuple(torch.as_tensor(cond).shape)}"


class Composition(Component):
    """A component built from others, its ``operands``; its metadata is derived from them once,
    here, so no composition copies it by hand.

    ``dim``, ``schedule`` and ``num_categories`` are the operands' (checked to agree at
    construction), ``has_energy`` and ``exact`` hold when they hold for every operand, and
    ``t_min`` is the largest. A subclass overrides what it changes (``Clamped`` its ``dim``).
    """

    def __init__(self, operands: Sequence[Component], what: str, same_dim: bool = True):
        check_compatible(operands, what, same_dim)
        self.operands = tuple(operands)

    @property
    def dim(self) -> int:
        return self.operands[0].dim

    @property
    def schedule(self) -> VPSchedule:
        return self.operands[0].schedule

    @property
    def num_categories(self) -> int | None:
        return self.operands[0].num_categories

    @property
    def has_energy(self) -> bool:
        return all(c.has_energy for c in self.operands)

    @property
    def exact(self) -> bool:
        return all(c.exact for c in self.operands)

    @property
    def t_min(self) -> float:
        return max(c.t_min for c in self.operands)

    def leaves(self) -> list[Component]:
        return [leaf for c in self.operands for leaf in c.leaves()]


def check_compatible(components: Sequence[Component], what: str, same_dim: bool = True) -> None:
    """Raise unless ``components`` are compgen components over one space (dimension, unless
    ``same_dim`` is False; continuous or K categories) on one noise schedule."""
    if not components:
        raise ValueError(f"{what} needs at least one component")
    for c in components:
        if not isinstance(c, Component):
            raise TypeError(f"{what} takes compgen components, got {type(c).__name__}")
    first = components[0]
    for c in components[1:]:
        if same_dim and c.dim != first.dim:
            raise ValueError(
                f"{what} of components with different dimensions: "
                f"{first!r} has dim {first.dim}, {c!r} has dim {c.dim}"
            )
        if c.num_categories != first.num_categories:
            kinds = [f"{x!r} is " + ("continuous" if x.num_categories is None
                                     else f"over {x.num_categories} categories") for x in (first, c)]
            raise ValueError(f"{what} of incompatible spaces: {kinds[0]}, {kinds[1]}")
        if c.schedule != first.schedule:
            raise ValueError(
                f"{what} of components on different noise schedules: "
                f"{first!r} uses {first.schedule}, {c!r} uses {c.schedule}"
            )
