"""Exact references and distances: grid-normalized 2D densities, W2, MMD (continuous);
enumerated distributions, total variation, Hamming-kernel MMD and effective sample size
(discrete)."""

from compgen.metrics.continuous import GridDensity, grid_density, log_likelihood, mmd, w2
from compgen.metrics.discrete import (
    effective_sample_size,
    empirical_distribution,
    exact_distribution,
    hamming_mmd,
    state_index,
    total_variation,
    tv_noise_floor,
)

__all__ = [
    "GridDensity", "effective_sample_size", "empirical_distribution", "exact_distribution",
    "grid_density", "hamming_mmd", "log_likelihood", "mmd", "state_index", "total_variation",
    "tv_noise_floor", "w2",
]
