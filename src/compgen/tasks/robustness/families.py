"""Random 2D factors from five families, each an exact Gaussian mixture.

Every factor is a :class:`~compgen.GaussianMixture`, so it is exact at every noise level, can be
sampled exactly (training data for learned factors) and composed into exact references. Shapes
that are not Gaussian (stripes that end, annuli, boxes, checkerboards) are built from many small
Gaussians spaced about one width apart, which makes them flat inside and Gaussian at the edges.

All factors live in about [-3, 3]^2, inside the reference grid's [-4.5, 4.5]^2.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from compgen.models.gaussian_mixture import GaussianMixture


def _uniform(gen: torch.Generator, lo: float, hi: float, *shape: int) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape or (1,), generator=gen)


def _rotation(angle: float) -> Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]])


def gmm(gen: torch.Generator) -> GaussianMixture:
    """2-6 isotropic Gaussians with random means, widths (0.1-0.5) and Dirichlet weights."""
    k = int(torch.randint(2, 7, (), generator=gen))
    means = _uniform(gen, -2.2, 2.2, k, 2)
    stds = _uniform(gen, 0.1, 0.5, k)
    weights = -torch.log(torch.rand(k, 2, generator=gen)).sum(-1)  # Gamma(2): Dirichlet(2) once normalized
    return GaussianMixture(means, stds, weights)


def stripes(gen: torch.Generator) -> GaussianMixture:
    """2-4 parallel stripes of finite length at a random angle (bounded support along them)."""
    m = int(torch.randint(2, 5, (), generator=gen))
    width = _uniform(gen, 0.08, 0.2).item()
    spacing = _uniform(gen, 0.6, 1.2).item()
    half = _uniform(gen, 1.5, 2.8).item()
    rot = _rotation(_uniform(gen, 0, math.pi).item())
    per_line = int(2 * half / width) + 1
    along = torch.linspace(-half, half, per_line)
    across = spacing * (torch.arange(m) - (m - 1) / 2)
    local = torch.cartesian_prod(along, across)  # (per_line * m, 2): (along, across)
    return GaussianMixture(local @ rot.T + _uniform(gen, -0.5, 0.5, 1, 2), width)


def ring(gen: torch.Generator) -> GaussianMixture:
    """An annulus (continuous) or a ring of 4-9 modes, random radius, width and centre."""
    radius = _uniform(gen, 1.0, 2.4).item()
    width = _uniform(gen, 0.08, 0.25).item()
    continuous = bool(torch.rand((), generator=gen) < 0.5)
    k = int(2 * math.pi * radius / width) + 1 if continuous else int(torch.randint(4, 10, (), generator=gen))
    angle = 2 * math.pi * torch.arange(k) / k + _uniform(gen, 0, math.pi).item()
    centre = _uniform(gen, -0.5, 0.5, 1, 2)
    means = centre + radius * torch.stack([angle.cos(), angle.sin()], dim=-1)
    return GaussianMixture(means, width)


def box(gen: torch.Generator) -> GaussianMixture:
    """A rotated rectangle of near-uniform density (a grid of Gaussians one width apart)."""
    sides = _uniform(gen, 0.8, 3.0, 2)
    width = 0.15
    counts = (sides / width).long() + 1
    grid = torch.cartesian_prod(torch.linspace(-0.5, 0.5, int(counts[0])) * sides[0],
                                torch.linspace(-0.5, 0.5, int(counts[1])) * sides[1])
    rot = _rotation(_uniform(gen, 0, math.pi).item())
    return GaussianMixture(grid @ rot.T + _uniform(gen, -1.0, 1.0, 1, 2), width)


def checkerboard(gen: torch.Generator) -> GaussianMixture:
    """The dark cells of a 3x3 to 5x5 board (cells 0.8-1.3 wide), each a 3x3 grid of Gaussians."""
    cells = int(torch.randint(3, 6, (), generator=gen))
    size = _uniform(gen, 0.8, 1.3).item()
    offset = (cells - 1) / 2
    dark = [(i, j) for i in range(cells) for j in range(cells) if (i + j) % 2 == 0]
    sub = torch.cartesian_prod(*[torch.tensor([-1 / 3, 0.0, 1 / 3]) * size] * 2)
    centres = torch.tensor(dark, dtype=torch.float32) - offset
    means = (centres[:, None, :] * size + sub[None]).reshape(-1, 2)
    rot = _rotation(_uniform(gen, 0, math.pi / 2).item())
    return GaussianMixture(means @ rot.T, size / 6)


FAMILIES: dict[str, Callable[[torch.Generator], GaussianMixture]] = {
    "gmm": gmm, "stripes": stripes, "ring": ring, "box": box, "checkerboard": checkerboard,
}


def random_factor(family: str, gen: torch.Generator, name: str | None = None) -> GaussianMixture:
    """One factor of ``family`` drawn with ``gen``; named ``name`` (default: the family)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}, got {family!r}")
    factor = FAMILIES[family](gen)
    factor.name = name or family
    return factor
