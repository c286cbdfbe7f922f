"""Named 2D densities, all analytic Gaussian mixtures, for demos, tests and benchmarks.

``bars_h & bars_v`` is a 4x4 grid of blobs that neither factor shows on its own;
``ring & bands`` keeps (mostly) the ring's diagonal modes; ``ring & corner ** -0.5`` removes
mass from the upper-right ones; ``bars_h & bars_v & diagonals`` keeps the ten grid blobs that lie
on the three diagonal stripes.
"""

from __future__ import annotations

import math

import torch

from compgen.models.gaussian_mixture import GaussianMixture

BAND_CENTERS = (-1.5, -0.5, 0.5, 1.5)


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.15) -> GaussianMixture:
    """``modes`` equal Gaussians evenly spaced on a circle."""
    angle = 2 * math.pi * torch.arange(modes) / modes
    means = radius * torch.stack([angle.cos(), angle.sin()], dim=-1)
    return GaussianMixture(means, std, name="ring")


def bars(horizontal: bool, centers: tuple[float, ...] = BAND_CENTERS, width: float = 0.12,
         length: float = 1.5) -> GaussianMixture:
    """Parallel bands: Gaussians long (std ``length``) along one axis and thin across it."""
    c = torch.tensor(centers)
    zero = torch.zeros_like(c)
    means = torch.stack([zero, c] if horizontal else [c, zero], dim=-1)
    stds = torch.tensor([length, width] if horizontal else [width, length]).expand(len(c), 2)
    return GaussianMixture(means, stds, name="bars_h" if horizontal else "bars_v")


def density(name: str) -> GaussianMixture:
    """A named density from :data:`DENSITIES`, with its name set."""
    if name not in DENSITIES:
        raise ValueError(f"unknown density {name!r}; choose one of {sorted(DENSITIES)}")
    gm = DENSITIES[name]()
    gm.name = name
    return gm


def bars_h(**kwargs) -> GaussianMixture:
    """Horizontal bands at y in ``centers``."""
    return bars(True, **kwargs)


def bars_v(**kwargs) -> GaussianMixture:
    """Vertical bands at x in ``centers``."""
    return bars(False, **kwargs)


def blob(center: tuple[float, float] = (0.0, 0.0), std: float = 1.0, name: str = "blob") -> GaussianMixture:
    """One isotropic Gaussian."""
    return GaussianMixture(torch.tensor([center]), std, name=name)


def bands() -> GaussianMixture:
    """Two wide horizontal bands through the ring's diagonal modes."""
    return bars(True, centers=(-1.41, 1.41), width=0.3, length=1.5)


def diagonals(offsets: tuple[float, ...] = (-1.0, 0.0, 1.0), width: float = 0.12,
              half_length: float = 3.0, per_line: int = 48) -> GaussianMixture:
    """Thin stripes along y = x + c for c in ``offsets``, each ``2 * half_length`` long.

    A stripe is ``per_line`` isotropic Gaussians spaced about ``width`` apart along the line, so
    its density is flat along it (no ripple) and Gaussian across it.
    """
    along = torch.tensor([1.0, 1.0]) / math.sqrt(2)
    across = torch.tensor([-1.0, 1.0]) / math.sqrt(2)  # y - x = c at c / sqrt(2) along this
    s = torch.linspace(-half_length, half_length, per_line)
    means = torch.cat([c / math.sqrt(2) * across + s[:, None] * along for c in offsets])
    return GaussianMixture(means, width, name="diagonals")


def corner() -> GaussianMixture:
    """A broad blob over the upper-right quadrant (negated, it removes the ring's modes there)."""
    return blob((1.5, 1.5), 1.0, name="corner")


DENSITIES = {"ring": ring, "bars_h": bars_h, "bars_v": bars_v, "bands": bands, "corner": corner,
             "diagonals": diagonals}
