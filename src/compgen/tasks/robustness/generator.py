"""Random composition tasks with exact references: a pool of random factors, and expressions over it.

A task is an expression (``"f03 & f11"``, ``"(f02 & f07) | f12"``, ...) over factors drawn from
the pool, built twice: over the exact factors (the reference, grid-normalized) and over learned
models of them. Nothing is picked by hand; two fixed rules reject a draw and draw again:

- *support*: every factor of a product must have seen the product's mass: at least 90% of it
  lies where the factor's log-density exceeds its own 1st percentile (a learned factor knows
  nothing of places its data never reaches, so no sampler could be judged there);
- *normalizable*: a negation ``a & b ** -s`` needs b's tails to outlast a's, which for mixtures
  of isotropic Gaussians is ``s * std_a,max^2 < std_b,max^2`` (exact at every noise level).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from compgen.algebra.component import Component
from compgen.expression import parse
from compgen.metrics import grid_density
from compgen.models.gaussian_mixture import GaussianMixture
from compgen.tasks.robustness.families import FAMILIES, random_factor

# how many tasks of each kind one run draws, and the expression each kind is
KINDS = {
    "product2": (12, "{0} & {1}"),
    "product3": (6, "{0} & {1} & {2}"),
    "mixture": (5, "{0} | {1}"),
    "negation": (4, "{0} & {1} ** -0.5"),
    "nested": (5, "({0} & {1}) | {2}"),
}
NEGATION_STRENGTH = 0.5
SUPPORT_MASS, SUPPORT_QUANTILE = 0.9, 0.01


@dataclass(frozen=True)
class Task:
    """One generated composition task."""

    name: str
    kind: str
    expression: str

    def build(self, factors: dict[str, Component]) -> Component:
        return parse(self.expression, factors)


def factor_pool(size: int = 16, seed: int = 0) -> dict[str, GaussianMixture]:
    """``size`` random factors, the families taken in turn; named ``f00_gmm``, ``f01_stripes``..."""
    gen = torch.Generator().manual_seed(seed)
    families = list(FAMILIES)
    pool = {}
    for i in range(size):
        family = families[i % len(families)]
        name = f"f{i:02d}_{family}"
        pool[name] = random_factor(family, gen, name)
    return pool


def generate_tasks(pool: dict[str, GaussianMixture], seed: int = 0,
                   counts: dict[str, int] | None = None, max_tries: int = 500) -> list[Task]:
    """Draw tasks of every kind (``counts`` per kind, default :data:`KINDS`) over ``pool``; no
    two tasks of a kind share the same set of factors."""
    gen = torch.Generator().manual_seed(seed)
    names = list(pool)
    ref = grid_density(next(iter(pool.values())), lo=-4.5, hi=4.5, resolution=GRID)
    cells = torch.cartesian_prod(ref.centers, ref.centers).float()
    log_p = {n: -f.energy(cells).double() for n, f in pool.items()}  # (R*R,) per factor
    thresholds = {n: _support_threshold(f) for n, f in pool.items()}
    tasks, seen = [], set()
    for kind, (default_count, template) in KINDS.items():
        count = default_count if counts is None else counts.get(kind, 0)
        arity = template.count("{")
        for _ in range(count):
            for _ in range(max_tries):
                picked = [names[i] for i in torch.randperm(len(names), generator=gen)[:arity].tolist()]
                key = (kind, frozenset(picked))
                if key not in seen and _acceptable(kind, picked, pool, log_p, thresholds):
                    break
            else:
                raise RuntimeError(f"no acceptable {kind} task in {max_tries} draws from this pool")
            seen.add(key)
            tasks.append(Task(f"t{len(tasks):02d}_{kind}", kind, template.format(*picked)))
    return tasks


GRID = 192  # cells per side of the grid the rules are checked on


def _support_threshold(factor: GaussianMixture) -> float:
    x = factor.sample(4000, torch.Generator().manual_seed(0))
    return torch.quantile(-factor.energy(x), SUPPORT_QUANTILE).item()


def _acceptable(kind: str, picked: list[str], pool: dict[str, GaussianMixture],
                log_p: dict[str, torch.Tensor], thresholds: dict[str, float]) -> bool:
    """The two rules of the module docstring, on the grid of factor log-densities ``log_p``."""
    if kind == "mixture":
        return True
    if kind == "negation":
        a, b = picked
        if not NEGATION_STRENGTH * pool[a].stds.max() ** 2 < pool[b].stds.max() ** 2:
            return False
        product, composed = [a], log_p[a] - NEGATION_STRENGTH * log_p[b]  # b only removes mass
    else:
        product = picked[:2] if kind == "nested" else picked
        composed = sum(log_p[n] for n in product)
    probs = torch.softmax(composed, 0)
    return all(probs[log_p[n] > thresholds[n]].sum() >= SUPPORT_MASS for n in product)
