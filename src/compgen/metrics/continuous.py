"""Exact references and distances for 2D compositions.

:func:`grid_density` normalizes any composition with energies on a grid, which gives the exact
log-density of any point (``-E(x) - log Z``, Z from the grid) and near-exact samples (a cell by
its mass, then uniform within it). W2 uses exact optimal transport from POT.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.component import Component


class GridDensity:
    """A 2D composition normalized on a ``resolution x resolution`` grid over ``[lo, hi]^2``.

    Attributes:
        log_z: log normalizing constant of exp(-E) (by the midpoint rule).
        probs: (R, R) cell masses, summing to one; ``probs[i, j]`` is the cell at (x_i, y_j).
    """

    def __init__(self, component: Component, lo: float, hi: float, resolution: int, t: float):
        component.require_energy("grid_density")
        if component.dim != 2:
            raise ValueError(f"grid_density needs a 2D component, got dim {component.dim}")
        if not hi > lo or resolution < 2:
            raise ValueError(f"need hi > lo and resolution >= 2, got lo={lo}, hi={hi}, "
                             f"resolution={resolution}")
        self.component, self.lo, self.hi, self.t = component, lo, hi, t
        self.cell = (hi - lo) / resolution
        centers = lo + self.cell * (torch.arange(resolution, dtype=torch.float64) + 0.5)
        grid = torch.cartesian_prod(centers, centers).float()  # (R*R, 2), x-major
        with torch.no_grad():
            neg_e = torch.cat([-component.energy(chunk, t).double() for chunk in grid.split(65536)])
        if not torch.isfinite(neg_e).any():
            raise ValueError(f"{component!r} has no finite density on [{lo}, {hi}]^2")
        self.log_z = (torch.logsumexp(neg_e, 0) + 2 * math.log(self.cell)).item()
        self.probs = torch.softmax(neg_e, 0).reshape(resolution, resolution)
        self.centers = centers

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact normalized log-density at (n, 2) points (also outside the grid)."""
        with torch.no_grad():
            return -self.component.energy(x, self.t).double() - self.log_z

    def expected_log_prob(self) -> float:
        """E_p[log p], the exact-LL that perfect samples attain on average (minus the entropy)."""
        p = self.probs.flatten()
        nz = p > 0
        return float((p[nz] * (torch.log(p[nz]) - 2 * math.log(self.cell))).sum())

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, 2) samples: a cell by its mass, then uniform in the cell."""
        idx = torch.multinomial(self.probs.flatten().float(), n, replacement=True, generator=generator)
        r = len(self.centers)
        xy = torch.stack([self.centers[idx // r], self.centers[idx % r]], dim=-1)
        return (xy + self.cell * (torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5)).float()

    def noise_floor(self, n: int, generator: torch.Generator | None = None, repeats: int = 3) -> float:
        """Median W2 between two independent exact sample sets of size n: the best any sampler can show."""
        values = [w2(self.sample(n, generator), self.sample(n, generator)) for _ in range(repeats)]
        return float(np.median(values))


def grid_density(component: Component, lo: float = -4.0, hi: float = 4.0, resolution: int = 512,
                 t: float = 0.0) -> GridDensity:
    """The exact normalized density of a 2D composition (at noise level ``t``) on a grid."""
    return GridDensity(component, lo, hi, resolution, t)


def log_likelihood(x: Tensor, reference: GridDensity) -> float:
    """Mean exact log-likelihood of samples (n, 2) under the reference density."""
    return float(reference.log_prob(x).mean())


def w2(x: Tensor, y: Tensor) -> float:
    """2-Wasserstein distance between two equal-weight sample sets (n, D), (m, D), exact OT."""
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"w2 needs (n, D) and (m, D) samples, got {tuple(x.shape)} and {tuple(y.shape)}")
    import ot  # POT takes about a second to import: only where W2 is computed

    xa, ya = x.double().numpy(), y.double().numpy()
    cost = ot.dist(xa, ya)  # squared Euclidean
    a, b = np.full(len(xa), 1 / len(xa)), np.full(len(ya), 1 / len(ya))
    return math.sqrt(max(float(ot.emd2(a, b, cost, numItermax=10_000_000)), 0.0))


def mmd(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] = (0.1, 0.3, 1.0)) -> float:
    """Unbiased squared MMD with a sum of Gaussian kernels (Gretton et al. 2012)."""
    x, y = x.double(), y.double()

    def k(a: Tensor, b: Tensor) -> Tensor:
        d2 = torch.cdist(a, b) ** 2
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * k(x, y).mean())
