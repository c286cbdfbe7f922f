"""Components: analytic densities and learned diffusion models over R^D; analytic energies and
autoregressive models over categorical vectors."""

from compgen.models.autoregressive import AutoregressiveModel
from compgen.models.decomposed import DecomposedDiffusion
from compgen.models.diffusion import EnergyDiffusion, ScoreDiffusion
from compgen.models.discrete import RBM, EnergyTable, Ising, Potts, lattice_couplings
from compgen.models.gaussian_mixture import GaussianMixture

__all__ = [
    "AutoregressiveModel", "DecomposedDiffusion", "EnergyDiffusion", "EnergyTable", "GaussianMixture",
    "Ising", "Potts", "RBM", "ScoreDiffusion", "lattice_couplings",
]
