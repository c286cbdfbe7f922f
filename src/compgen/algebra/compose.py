"""Compositions of components: each is a component again, so they nest arbitrarily.

=================  ==========================  ===========================================
expression          density                     energy
=================  ==========================  ===========================================
``a & b``           p_a · p_b                   E_a + E_b
``a | b``           w_a p_a + w_b p_b           -logsumexp(log w_i - E_i)
``a ** beta``       p_a^beta                    beta · E_a
``~a``              1 / p_a                     -E_a   (``cg.negate(a, s)`` is p_a^-s)
``m.given(c)``      p(x | c)                    E(x, t, c)
=================  ==========================  ===========================================

At noise level t each composition applies to the components' noised densities,
``q_t = prod_i p_{i,t}``. That is the annealing path the samplers follow; only at t = 0 is it
the composition itself (the noised product is not the product of noised factors), which is
why compositions are sampled with annealed MCMC rather than by a plain reverse process.

A mixture mixes the *normalized* densities: ``(a & b) | b`` is 1/2 p_a p_b / Z_ab + 1/2 p_b,
at every noise level ``q_t = sum_i w_i p_{i,t} / Z_{i,t}``. Z is exact for Gaussian-mixture
algebra (:mod:`compgen.algebra.normalizer`) and estimated by annealed importance sampling for
the rest (learned energies, negations); ``cg.mixture(..., normalize=False)`` mixes the
unnormalized masses instead.
"""

from __future__ import annotations

import functools
import math
import operator
import warnings
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

from compgen.algebra.component import Component, Composition, Condition, Pending, with_condition
from compgen.algebra.normalizer import GaussianTerms, Normalized, concatenate, normalized


class Product(Composition):
    """Product of experts ``p_1 · p_2 · ...`` (AND): energies and scores add.

    Factors that are one conditional network under several conditions (``m.given(c_1) &
    m.given(c_2) ** w & ...``) are evaluated in ONE batched forward pass per call, as a
    :class:`~compgen.algebra.factor_graph.FactorGraph` over all of x; the others one by one.
    """

    def __init__(self, components: Sequence[Component]):
        flat: list[Component] = []
        for c in components:  # (a & b) & c is stored as one flat product
            flat.extend(c.components if isinstance(c, Product) else [c])
        super().__init__(flat, "product")
        self._terms = _batched_terms(flat)

    @property
    def components(self) -> list[Component]:
        return list(self.operands)

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        self.require_energy("the energy of a product")
        return _total(c.energy(x, t, **with_condition(cond)) for c in self._terms)

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.submit(x, t, cond)()[1]  # remote factors run concurrently

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        return self.submit(x, t, cond)()

    def submit(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Pending:
        pending = [c.submit(x, t, cond) for c in self._terms]  # every remote factor is on its way

        def wait() -> tuple[Tensor | None, Tensor]:
            parts = [p() for p in pending]
            score = _total(s for _, s in parts)
            energy = _total(e for e, _ in parts) if self.has_energy else None
            return energy, score

        return wait

    def tail_precision(self, w: Tensor, t: float) -> Tensor | None:
        parts = [c.tail_precision(w, t) for c in self.components]
        return None if any(p is None for p in parts) else sum(parts)

    def gaussian_terms(self, t: float) -> GaussianTerms | None:
        terms = None
        for c in self.components:
            part = c.gaussian_terms(t)
            if part is None:
                return None
            terms = part if terms is None else terms.times(part)
        return terms

    def __repr__(self) -> str:
        return " & ".join(_wrap(c, Mixture) for c in self.components)


class Mixture(Composition):
    """Mixture ``sum_i w_i p_i / Z_i`` (OR) of normalized densities, by logsumexp.

    Args:
        weights: positive, normalized here; uniform by default.
        normalize: divide each component by its normalizing constant at every noise level
            (exact for Gaussian-mixture algebra, else estimated once by annealed importance
            sampling, :func:`compgen.algebra.normalizer.normalized`). False mixes the
            unnormalized masses ``w_i exp(-E_i)``.

    Attributes:
        log_normalizer_errors: per component, the standard error of its estimated log Z at the
            last level (0 where exact or already normalized).
    """

    def __init__(self, components: Sequence[Component], weights: Sequence[float] | Tensor | None = None,
                 normalize: bool = True):
        components = list(components)  # a | b | c is (a | b) | c: use cg.mixture for thirds
        super().__init__(components, "mixture")
        for c in components:
            c.require_energy("a mixture")
        n = len(components)
        self._uniform = weights is None
        w = torch.full((n,), 1.0 / n) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (n,):
            raise ValueError(f"mixture weights must have shape ({n},), got {tuple(w.shape)}")
        if not torch.all(torch.isfinite(w)) or torch.any(w <= 0):
            raise ValueError(f"mixture weights must be finite and positive, got {w.tolist()}")
        self.log_weights = torch.log(w / w.sum()).float()
        self.normalize = self.normalized = normalize
        normalizers = [_log_normalizer(c) if normalize else (None, 0.0) for c in components]
        self._log_z = [log_z for log_z, _ in normalizers]
        self.log_normalizer_errors = [err for _, err in normalizers]
        for c, err in zip(components, self.log_normalizer_errors, strict=True):
            if err > UNCERTAIN_LOG_Z:
                warnings.warn(f"mixture: the normalizing constant of {c!r} is estimated to +-{err:.2f} "
                              f"nats, so its weight is uncertain by a factor of about {math.exp(err):.2f}",
                              stacklevel=2)

    @property
    def components(self) -> list[Component]:
        return list(self.operands)

    def _logits(self, energies: Tensor, t: float | Tensor) -> Tensor:
        """log w_i - E_i - log Z_i per chain and component, (B, K)."""
        logits = self.log_weights.to(energies) - energies
        for i, log_z in enumerate(self._log_z):
            if log_z is not None:
                logits[:, i] = logits[:, i] - log_z(t).to(energies)
        return logits

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        energies = torch.stack([c.energy(x, t, **with_condition(cond)) for c in self.components], -1)
        return -torch.logsumexp(self._logits(energies, t), dim=-1)

    def responsibilities(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        """(B, K) posterior probability of each component given x."""
        energies = torch.stack([c.energy(x, t, **with_condition(cond)) for c in self.components], dim=-1)
        return torch.softmax(self._logits(energies, t), dim=-1)

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor, Tensor]:
        pending = [c.submit(x, t, cond) for c in self.components]
        parts = [p() for p in pending]
        logits = self._logits(torch.stack([e for e, _ in parts], dim=-1), t)  # (B, K)
        resp = torch.softmax(logits, dim=-1)  # posterior over components
        scores = torch.stack([s for _, s in parts], dim=1)  # (B, K, ...): (B, K, D) or (B, K, D, C)
        score = (resp.view(*resp.shape, *[1] * (scores.dim() - 2)) * scores).sum(1)
        return -torch.logsumexp(logits, dim=-1), score

    def tail_precision(self, w: Tensor, t: float) -> Tensor | None:
        parts = [c.tail_precision(w, t) for c in self.components]  # the slowest tail wins
        return None if any(p is None for p in parts) else torch.stack(parts).min(0).values

    def gaussian_terms(self, t: float) -> GaussianTerms | None:
        parts = [c.gaussian_terms(t) for c in self.components]
        if any(p is None for p in parts):
            return None
        shifts = [self.log_weights[i].double() - (p.log_mass() if self.normalize else 0.0)
                  for i, p in enumerate(parts)]
        return concatenate([p.shifted(shift) for p, shift in zip(parts, shifts, strict=True)])

    def __repr__(self) -> str:
        if self._uniform:
            return " | ".join(_wrap(c, (Product, Mixture)) for c in self.components)
        w = torch.exp(self.log_weights).tolist()
        inner = ", ".join(repr(c) for c in self.components)
        return f"mixture([{inner}], weights=[{', '.join(f'{v:.3g}' for v in w)}])"


UNCERTAIN_LOG_Z = 0.1  # nats of standard error beyond which a mixture warns about its weights


def _log_normalizer(c: Component) -> tuple[Callable[[float | Tensor], Tensor] | None, float]:
    """A mixture's view of one component's normalizing constant: t -> log Z_t (None when it is
    normalized already) and the standard error of log Z at the last level (0 when exact)."""
    if isinstance(c, Normalized):  # normalized by an estimate: it carries the estimate's error
        return None, float(c.std_error[-1])
    if c.normalized:
        return None, 0.0
    if c.gaussian_terms(1.0) is not None:  # the expansion is structural: exact at every t
        return _ExactLogNormalizer(c), 0.0
    if c.num_categories is not None:
        log_z = _enumerated_log_normalizer(c)
        return (lambda t: log_z), 0.0
    estimate = normalized(c)
    return estimate.log_normalizer_at, float(estimate.std_error[-1])


ENUMERABLE_STATES = 2**20


def _enumerated_log_normalizer(c: Component) -> Tensor:
    """Exact log Z of a small discrete component, by summing over every state."""
    from compgen.algebra.discrete import all_states

    if c.num_categories**c.dim > ENUMERABLE_STATES:
        raise ValueError(f"mixture: {c!r} has {c.num_categories}^{c.dim} states, too many to normalize "
                         "exactly, and no known normalizing constant; pass normalize=False to mix its "
                         "unnormalized mass")
    with torch.no_grad():
        energies = torch.cat([c.energy(x) for x in all_states(c.dim, c.num_categories).split(65536)])
    return torch.logsumexp(-energies.double(), 0).float()


class _ExactLogNormalizer:
    """t -> log Z_t of a component with Gaussian terms, cached per level (samplers ask often)."""

    def __init__(self, component: Component):
        self.component, self.cache = component, {}

    def __call__(self, t: float | Tensor) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        values = [self._at(v) for v in t.reshape(-1).tolist()]
        return torch.tensor(values).reshape(t.shape) if t.dim() else torch.tensor(values[0])

    def _at(self, t: float) -> float:
        if t not in self.cache:
            self.cache[t] = self.component.gaussian_terms(t).log_mass()
        return self.cache[t]


class Power(Composition):
    """``p^exponent``: temperature for exponent > 0, inversion (NOT) for exponent < 0.

    ``a & ~b`` is p_a / p_b, and ``a & cg.negate(b, s)`` is p_a / p_b^s. The result is
    normalizable only where the other factors decay faster than p_b^s.
    """

    def __init__(self, base: Component, exponent: float):
        super().__init__([base], "power")
        exponent = float(exponent)
        if exponent == 0 or not torch.isfinite(torch.tensor(exponent)):
            raise ValueError(f"exponent must be finite and non-zero, got {exponent}")
        self.base, self.exponent = base, exponent

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.exponent * self.base.energy(x, t, **with_condition(cond))

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.exponent * self.base.score(x, t, **with_condition(cond))

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        return self.submit(x, t, cond)()

    def submit(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Pending:
        pending = self.base.submit(x, t, cond)

        def wait() -> tuple[Tensor | None, Tensor]:
            energy, score = pending()
            return (None if energy is None else self.exponent * energy), self.exponent * score

        return wait

    def tail_precision(self, w: Tensor, t: float) -> Tensor | None:
        base = self.base.tail_precision(w, t)
        return None if base is None else self.exponent * base

    def gaussian_terms(self, t: float) -> GaussianTerms | None:
        terms = self.base.gaussian_terms(t)
        return None if terms is None else terms.power(self.exponent)

    def __repr__(self) -> str:
        base = _wrap(self.base, (Product, Mixture, Power))
        if self.exponent == -1:
            return f"~{base}"
        if self.exponent < 0:
            return f"negate({self.base!r}, {-self.exponent:g})"
        return f"{base} ** {self.exponent:g}"


class WeightedScore(Composition):
    """The base's score weighted per coordinate: ``weights * score`` (a ``Power`` whose exponent
    varies over the coordinates of x).

    A product of these whose weights sum to one at every coordinate is a spatial composition
    (as MultiDiffusion's): each factor governs the coordinates its weights give it, e.g. the
    pixels of the object its latent stands for. With constant weights it is ``base ** w``; with
    varying ones the field is in general no gradient, so the result is score-only (MH
    corrections fall back on the score's line integral, as for any score-only model).

    Args:
        base: the component whose score is weighted.
        weights: (D,) one weight per coordinate, or (B, D) one row per chain (B chains).
    """

    has_energy = False  # over the operands' property: a varying weight leaves no energy

    def __init__(self, base: Component, weights: Tensor):
        super().__init__([base], "weighted score")
        weights = torch.as_tensor(weights, dtype=torch.float32)
        if weights.dim() not in (1, 2) or weights.shape[-1] != base.dim:
            raise ValueError(f"weights must have shape ({base.dim},) or (chains, {base.dim}), "
                             f"got {tuple(weights.shape)}")
        if not torch.isfinite(weights).all():
            raise ValueError("weights must be finite")
        self.base, self.weights = base, weights

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self._weigh(x, self.base.score(x, t, **with_condition(cond)))

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        return self.submit(x, t, cond)()

    def submit(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Pending:
        pending = self.base.submit(x, t, cond)
        return lambda: (None, self._weigh(x, pending()[1]))

    def _weigh(self, x: Tensor, score: Tensor) -> Tensor:
        if self.weights.dim() == 2 and self.weights.shape[0] != x.shape[0]:
            raise ValueError(f"{self!r}: weights hold {self.weights.shape[0]} chains' rows, x has "
                             f"{x.shape[0]} chains")
        return self.weights.to(score) * score

    def __repr__(self) -> str:
        return f"weighted({self.base!r})"


class Conditioned(Composition):
    """A conditional model with its condition bound: ``p(x | c)`` as a plain component (a leaf:
    its model's condition-free parts are not parts of it)."""

    def __init__(self, model: Component, condition: Tensor | int):
        super().__init__([model], "given")
        self.model, self.condition = model, condition

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        self._unconditional(cond)  # bound already
        return self.model.energy(x, t, cond=self.condition)

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        self._unconditional(cond)
        return self.model.score(x, t, cond=self.condition)

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        self._unconditional(cond)
        return self.model.energy_and_score(x, t, cond=self.condition)

    def submit(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Pending:
        self._unconditional(cond)
        return self.model.submit(x, t, cond=self.condition)

    def leaves(self) -> list[Component]:
        return [self]

    def __repr__(self) -> str:
        c = self.condition
        shown = c if isinstance(c, int) else f"tensor{tuple(torch.as_tensor(c).shape)}"
        return f"{self.model!r}.given({shown})"


class Clamped(Composition):
    """``p(x_free | x_known = values)``: a component over the D - k free coordinates.

    Conditioning on observed coordinates by clamping them: the energy of ``x_free`` is the
    base energy at the full point with ``indices`` set to ``values``, and the score is the
    base score's free part. The known values are clean at every noise level (as inpainting
    holds them); at the last level this is the exact conditional of the base at t_min. A
    sharp factor on those coordinates would instead force every MCMC step to the factor's
    width; clamped, they take no steps at all.
    """

    def __init__(self, base: Component, indices: Sequence[int], values: Tensor):
        super().__init__([base], "clamp")
        indices = list(indices)
        values = torch.as_tensor(values, dtype=torch.float32)
        if len(set(indices)) != len(indices) or not all(0 <= i < base.dim for i in indices):
            raise ValueError(f"clamp: indices must be distinct and in [0, {base.dim}), got {indices}")
        if values.shape != (len(indices),):
            raise ValueError(f"clamp: values must have shape ({len(indices)},), got {tuple(values.shape)}")
        known = set(indices)
        self.base, self.indices, self.values = base, indices, values
        self.free = [i for i in range(base.dim) if i not in known]

    @property
    def dim(self) -> int:
        return len(self.free)

    def full(self, x: Tensor) -> Tensor:
        """(B, D - k) free coordinates -> (B, D) points with the known values filled in."""
        self._check_x(x)
        out = x.new_empty(x.shape[0], self.base.dim)
        out[:, self.free] = x
        out[:, self.indices] = self.values.to(x)
        return out

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.base.energy(self.full(x), t, **with_condition(cond))

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.base.score(self.full(x), t, **with_condition(cond))[:, self.free]

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        energy, score = self.base.energy_and_score(self.full(x), t, **with_condition(cond))
        return energy, score[:, self.free]

    def __repr__(self) -> str:
        return f"{_wrap(self.base, (Product, Mixture))}.clamp({len(self.indices)} coordinates)"


def mixture(components: Sequence[Component], weights: Sequence[float] | Tensor | None = None,
            normalize: bool = True) -> Mixture:
    """Weighted mixture ``sum_i w_i p_i / Z_i`` of the normalized densities; weights are
    normalized to sum to one. ``normalize=False``: ``sum_i w_i exp(-E_i)`` as given."""
    return Mixture(list(components), weights, normalize)


def negate(component: Component, strength: float = 1.0) -> Power:
    """``p^-strength``, for ``a & negate(b, s)`` = p_a / p_b^s."""
    if strength <= 0:
        raise ValueError(f"negate: strength must be positive, got {strength}")
    return Power(component, -strength)


def _batched_terms(factors: list[Component]) -> list[Component]:
    """``factors`` with every group of two or more bound conditions of one network (``m.given(c)``,
    or a power of one) replaced by one factor graph that evaluates the group in one batch.

    Conditions of one shape group together; one with a leading chain dimension beyond the null
    condition's shape (one condition per chain, e.g. latents inferred per image) groups into a
    graph with per-chain conditions."""
    from compgen.algebra.factor_graph import FactorGraph

    def bound(c: Component) -> tuple[Component, Tensor | int, float] | None:
        exponent = c.exponent if isinstance(c, Power) else 1.0
        base = c.base if isinstance(c, Power) else c
        if isinstance(base, Conditioned) and base.model.batches_conditions:
            return base.model, base.condition, exponent
        return None

    bounds = [bound(c) for c in factors]
    keys = [None if b is None else (id(b[0]), tuple(torch.as_tensor(b[1]).shape)) for b in bounds]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            groups.setdefault(key, []).append(i)
    terms: list[Component] = []
    for i, c in enumerate(factors):
        members = groups.get(keys[i]) if keys[i] is not None else None
        if members is None or len(members) < 2:
            terms.append(c)
        elif i == members[0]:  # the group stands where its first member stood
            model, condition, _ = bounds[i]
            null = getattr(model, "null_condition", None)
            per_chain = null is not None and torch.as_tensor(condition).dim() > null.dim()
            terms.append(FactorGraph(model.dim, [(model, range(model.dim), *bounds[j][1:]) for j in members],
                                     name=f"batched({model!r})", per_chain_conditions=per_chain))
    return terms


def _total(terms: Iterable[Tensor]) -> Tensor:
    """The sum of tensors, without ``sum()``'s extra addition of 0."""
    return functools.reduce(operator.add, terms)


def _wrap(c: Component, kinds: type | tuple[type, ...]) -> str:
    return f"({c!r})" if isinstance(c, kinds) else repr(c)
