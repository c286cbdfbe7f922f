"""The algebra of densities: one component protocol and the compositions built on it."""

from compgen.algebra.component import Component, EnergyRequiredError
from compgen.algebra.compose import Clamped, Conditioned, Guided, Mixture, Power, Product, mixture, negate
from compgen.algebra.discrete import DiscreteComponent, all_states, one_hot
from compgen.algebra.factor_graph import FactorGraph

__all__ = [
    "Clamped", "Component", "Conditioned", "DiscreteComponent", "EnergyRequiredError", "FactorGraph",
    "Guided", "Mixture", "Power", "Product", "all_states", "mixture", "negate", "one_hot",
]
