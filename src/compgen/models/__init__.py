"""Components: analytic densities and learned diffusion models."""

from compgen.models.diffusion import EnergyDiffusion, ScoreDiffusion
from compgen.models.gaussian_mixture import GaussianMixture

__all__ = ["EnergyDiffusion", "GaussianMixture", "ScoreDiffusion"]
