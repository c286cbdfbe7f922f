"""The algebra of densities: one component protocol and the compositions built on it."""

from compgen.algebra.component import Component, EnergyRequiredError, EvaluationError
from compgen.algebra.compose import (
    Clamped,
    Conditioned,
    Mixture,
    Power,
    Product,
    WeightedScore,
    mixture,
    negate,
)
from compgen.algebra.discrete import DiscreteComponent, all_states, one_hot
from compgen.algebra.factor_graph import FactorGraph, guided, guided_factors

__all__ = [
    "Clamped", "Component", "Conditioned", "DiscreteComponent", "EnergyRequiredError", "EvaluationError",
    "FactorGraph",
    "Mixture", "Power", "Product", "WeightedScore",
    "all_states", "guided", "guided_factors", "mixture", "negate",
    "one_hot",
]
