"""A product of factors over subsets of the variables: ``E(x, t) = sum_f E_f(x[idx_f], t | c_f)``.

Constraint graphs, trajectories factorized over time windows and spatial tapestries are all this
shape: one small model (or a few) applied to many overlapping subsets of a large x, each with
its own condition. Every factor of the same model is evaluated in ONE batched forward pass per
call (the subsets are gathered into a (B * F, k) batch), and the scores are scattered back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from compgen.algebra.component import Component, Composition, Condition


class FactorGraph(Composition):
    """Product of factors ``(model, indices, condition)`` over x in R^dim.

    Args:
        dim: dimension of the joint x.
        factors: each ``(model, indices, condition)`` or ``(model, indices, condition, weight)``:
            a component over R^k evaluated on ``x[:, indices]`` (k indices into x), with
            ``condition`` (passed as ``cond=`` per factor) or None for an unconditional model,
            raised to the power ``weight`` (default 1; a negative weight divides by the factor).
        name: shown by ``repr``.
        per_chain_conditions: each factor's condition holds one condition per chain ((B,)
            labels or (B, ...) vectors for B chains), e.g. one per system of a batch whose
            factors were inferred from data, rather than one shared by all chains.
    """

    def __init__(self, dim: int, factors: Sequence[tuple], name: str = "factor_graph",
                 per_chain_conditions: bool = False):
        if not factors:
            raise ValueError("FactorGraph needs at least one factor")
        self._dim, self.name, self.factors = dim, name, list(factors)
        self.per_chain_conditions = per_chain_conditions
        groups: dict[int, tuple[Component, list, list]] = {}
        for i, factor in enumerate(factors):
            if len(factor) not in (3, 4):
                raise ValueError(f"factors[{i}]: expected (model, indices, condition[, weight]), "
                                 f"got {len(factor)} items")
            model, indices, cond, weight = (*factor, 1.0)[:4]
            idx = torch.as_tensor(list(indices), dtype=torch.long)
            if idx.dim() != 1 or len(idx) != model.dim:
                raise ValueError(f"factors[{i}]: {model!r} is over {model.dim} variables, "
                                 f"got {len(idx)} indices")
            if idx.min() < 0 or idx.max() >= dim:
                raise ValueError(f"factors[{i}]: indices must lie in [0, {dim}), got {idx.tolist()}")
            if model.num_categories is not None:
                raise ValueError(f"factors[{i}]: {model!r} is discrete; FactorGraph is for R^dim")
            entry = groups.setdefault(id(model), (model, [], [], []))
            entry[1].append(idx)
            entry[2].append(cond)
            entry[3].append(float(weight))
        self.groups = []
        for model, idx, conds, weights in groups.values():
            if any(c is None for c in conds) and not all(c is None for c in conds):
                raise ValueError(f"the factors of {model!r} must all have a condition or all have none")
            stacked = None if conds[0] is None else torch.stack([torch.as_tensor(c) for c in conds])
            # (F, k), (F, ...) or None, (F,)
            self.groups.append((model, torch.stack(idx), stacked, torch.tensor(weights)))
        self._reads_all = {id(idx): idx.shape[1] == dim and bool((idx == torch.arange(dim)).all())
                           for _, idx, _, _ in self.groups}
        first = self.groups[0][0]
        for model, *_ in self.groups:
            if model.schedule != first.schedule:
                raise ValueError(f"factors on different noise schedules: {first!r} and {model!r}")
        super().__init__([model for model, *_ in self.groups], "factor graph", same_dim=False)

    @property
    def dim(self) -> int:
        return self._dim

    def extended(self, factors: Sequence[tuple], name: str | None = None) -> FactorGraph:
        """This graph times more factors (same format), e.g. a task's start and goal."""
        return FactorGraph(self.dim, self.factors + list(factors), name=name or self.name,
                           per_chain_conditions=self.per_chain_conditions)

    @property
    def num_factors(self) -> int:
        return sum(len(idx) for _, idx, *_ in self.groups)

    def _gather(self, x: Tensor, t: float | Tensor, idx: Tensor, cond: Tensor | None
                ) -> tuple[Tensor, float | Tensor, dict]:
        b, (f, k) = x.shape[0], idx.shape
        # row b * F + j is factor j of chain b; a repeat is cheaper than a gather where every
        # factor reads all of x in order (a product of one network under several conditions;
        # _reads_all is keyed by the group's index tensor, which the graph keeps)
        z = x.repeat_interleave(f, dim=0) if self._reads_all[id(idx)] else x[:, idx].reshape(b * f, k)
        if isinstance(t, Tensor) and t.dim() == 1:  # one level per chain
            t = t.repeat_interleave(f)
        if cond is None:
            return z, t, {}
        if not self.per_chain_conditions:
            return z, t, {"cond": cond.repeat(b, *[1] * (cond.dim() - 1))}
        if cond.shape[1] != b:  # stacked (F, B, ...): factor j's condition of chain c at row c * F + j
            raise ValueError(f"{self.name}: per-chain conditions are for {cond.shape[1]} chains, x has {b}")
        return z, t, {"cond": cond.transpose(0, 1).reshape(b * f, *cond.shape[2:])}

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        self._check_x(x)
        self._unconditional(cond)  # each factor has its own
        self.require_energy("the energy of a factor graph")
        total = torch.zeros(x.shape[0], dtype=x.dtype)
        for model, idx, cond, weight in self.groups:
            z, tz, kwargs = self._gather(x, t, idx, cond)
            total = total + (model.energy(z, tz, **kwargs).view(x.shape[0], -1) * weight).sum(1)
        return total

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        self._check_x(x)
        self._unconditional(cond)
        b = x.shape[0]
        energy = torch.zeros(b, dtype=x.dtype) if self.has_energy else None
        score = torch.zeros_like(x)
        for model, idx, cond, weight in self.groups:
            z, tz, kwargs = self._gather(x, t, idx, cond)
            e, s = model.energy_and_score(z, tz, **kwargs)
            if energy is not None:
                energy = energy + (e.view(b, -1) * weight).sum(1)
            s = s.view(b, *idx.shape) * weight[:, None]
            if self._reads_all[id(idx)]:
                score = score + s.sum(1).to(x.dtype)
                continue
            # scatter each factor's score back onto the variables it reads
            score.view(-1).index_add_(0, (idx[None] + self.dim * torch.arange(b)[:, None, None]).flatten(),
                                      s.reshape(-1).to(x.dtype))
        return energy, score



    def __repr__(self) -> str:
        return f"{self.name}({self.num_factors} factors)"


def guided_factors(model: Component, conditions: Tensor, weights: Sequence[float] | Tensor | float,
                   indices: Sequence[int] | Tensor | None = None) -> list[tuple]:
    """Factors of ``p(x) * prod_i (p(x | c_i) / p(x)) ** w_i`` for :class:`FactorGraph`.

    That is ``E = E_0 + sum_i w_i (E_i - E_0)``, where ``E_0`` is the model's unconditional
    (null-condition) energy: a product over conditions with classifier-free guidance (Ho &
    Salimans 2022; Liu et al. 2022, Composable Diffusion). A negative weight subtracts a
    condition ("... and no blue square"). As factors of one model, every condition is evaluated
    in the graph's one batched call.

    Args:
        model: a conditional model that names its unconditional input as ``null_condition``.
        conditions: (K, ...) one condition per row (e.g. (K, 384) sentence embeddings).
        weights: (K,) guidance weights, or one weight for all.
        indices: the variables of the joint x the model reads (default: all of x, in order).
    """
    null = getattr(model, "null_condition", None)
    if null is None:
        raise TypeError(f"guidance needs a conditional model with a null_condition; {model!r} has none")
    conditions = torch.as_tensor(conditions)
    if conditions.dim() == 0 or conditions.shape[1:] != null.shape or len(conditions) == 0:
        raise ValueError(f"guidance: conditions must have shape (K, {', '.join(map(str, null.shape))}) "
                         f"with K >= 1, got {tuple(conditions.shape)}")
    k = len(conditions)
    weights = torch.as_tensor(weights, dtype=torch.float32)
    weights = weights.expand(k) if weights.dim() == 0 else weights
    if weights.shape != (k,):
        raise ValueError(f"guidance: weights must be one number or have shape ({k},), "
                         f"got {tuple(weights.shape)}")
    indices = range(model.dim) if indices is None else indices
    # the null condition's power makes the powers sum to one: p(x) ** (1 - sum w)
    return [(model, indices, null, 1 - weights.sum().item())] + [
        (model, indices, c, w) for c, w in zip(conditions, weights.tolist(), strict=True)]


def guided(model: Component, conditions: Tensor, weights: Sequence[float] | Tensor | float) -> FactorGraph:
    """One conditional model under several conditions at once, with guidance weights (see
    :func:`guided_factors`): the same density as
    ``m.given(null) ** (1 - sum w) & m.given(c_1) ** w_1 & ...``, but with every condition in
    ONE batched forward pass per evaluation instead of K + 1."""
    return FactorGraph(model.dim, guided_factors(model, conditions, weights), name=f"guided({model!r})")
