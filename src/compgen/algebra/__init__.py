"""The algebra of densities: one component protocol and the compositions built on it."""

from compgen.algebra.component import Component, EnergyRequiredError
from compgen.algebra.compose import Conditioned, Mixture, Power, Product, mixture, negate

__all__ = [
    "Component", "Conditioned", "EnergyRequiredError", "Mixture", "Power", "Product",
    "mixture", "negate",
]
