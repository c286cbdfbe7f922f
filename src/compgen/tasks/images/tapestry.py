"""Tapestries: a canvas larger than the model's window, composed from per-region sentence products.

Each region is a window of the canvas (the model's S x S) with its own sentences; the canvas
density is the product over regions of each window's guided sentence product (a window without
sentences contributes the unconditional model), one :class:`~compgen.algebra.FactorGraph` whose
factors all go through one batched forward pass. Windows overlap, so neighbouring regions must
agree where they share pixels: sampling the product is what makes the canvas one coherent image.
Windows start on multiples of the place cell (S / 3 pixels) so that an object in an overlap sits
in a place of both windows' grids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from compgen.algebra import FactorGraph, guided_factors
from compgen.algebra.component import Component
from compgen.tasks.images.detector import correct
from compgen.tasks.images.generate import GUIDANCE
from compgen.tasks.images.models import encode
from compgen.tasks.images.scenes import CELL, SIZE, SceneObject, parse


@dataclass(frozen=True)
class Region:
    """A window of the canvas at (top, left), S x S pixels, and the sentences describing it in
    the window's own places ("a red circle on the right" = the window's right third)."""

    top: int
    left: int
    sentences: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Layout:
    """A canvas of ``height`` x ``width`` pixels and its regions."""

    height: int
    width: int
    regions: tuple[Region, ...]

    def __post_init__(self):
        if self.height < SIZE or self.width < SIZE or self.height % CELL or self.width % CELL:
            raise ValueError(f"layout: the canvas must be at least {SIZE} x {SIZE} and a multiple of "
                             f"{CELL} pixels each way, got {self.height} x {self.width}")
        if not self.regions:
            raise ValueError("layout: regions must hold at least one window")
        for i, r in enumerate(self.regions):
            if r.top % CELL or r.left % CELL or not (0 <= r.top <= self.height - SIZE
                                                      and 0 <= r.left <= self.width - SIZE):
                raise ValueError(f"layout: regions[{i}] at (top={r.top}, left={r.left}) must lie inside the "
                                 f"canvas and start on a multiple of {CELL} pixels")
            for sentence in r.sentences:
                parse(sentence)  # raises, naming the vocabulary

    @classmethod
    def from_json(cls, path: str | Path) -> Layout:
        """Read ``{"height": H, "width": W, "regions": [{"top": y, "left": x, "sentences": [...]}]}``."""
        try:
            data = json.loads(Path(path).read_text())
            regions = tuple(Region(int(r["top"]), int(r["left"]), tuple(r.get("sentences", ())))
                            for r in data["regions"])
            return cls(int(data["height"]), int(data["width"]), regions)
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a tapestry layout ({err!r}); expected "
                             '{"height": H, "width": W, "regions": [{"top": y, "left": x, '
                             '"sentences": [...]}, ...]}') from err

    @classmethod
    def from_objects(cls, height: int, width: int, objects: list[tuple[str, str, int, int]],
                     stride: int = CELL) -> Layout:
        """Windows every ``stride`` pixels over the canvas, each described by the canvas objects
        ``(shape, colour, cell_row, cell_col)`` that fall inside it."""
        regions = []
        for top in range(0, height - SIZE + 1, stride):
            for left in range(0, width - SIZE + 1, stride):
                inside = [SceneObject(shape, colour, (r - top // CELL) * 3 + (c - left // CELL))
                          for shape, colour, r, c in objects
                          if 0 <= r - top // CELL < 3 and 0 <= c - left // CELL < 3]
                regions.append(Region(top, left, tuple(o.sentence for o in inside)))
        return cls(height, width, tuple(regions))


def window_indices(layout: Layout, region: Region) -> Tensor:
    """(3 * S * S,) indices of a region's pixels in the flat (3, H, W) canvas, in the model's
    channel-major order."""
    c, y, x = np.meshgrid(np.arange(3), np.arange(SIZE) + region.top, np.arange(SIZE) + region.left,
                          indexing="ij")
    return torch.from_numpy(((c * layout.height + y) * layout.width + x).reshape(-1))


def tapestry(model: Component, layout: Layout, weight: float = GUIDANCE) -> FactorGraph:
    """The canvas density: the product over regions of each window's guided sentence product."""
    factors = []
    for region in layout.regions:
        idx = window_indices(layout, region)
        if region.sentences:
            factors += guided_factors(model, encode(list(region.sentences)), weight, idx)
        else:
            factors.append((model, idx, model.null_condition, 1.0))
    return FactorGraph(3 * layout.height * layout.width, factors, name="tapestry")


def region_correct(images: np.ndarray, layout: Layout) -> np.ndarray:
    """(N, R) bool: is every object of region r present as described in image n's window r."""
    out = np.zeros((len(images), len(layout.regions)), dtype=bool)
    for j, region in enumerate(layout.regions):
        objects = [parse(s) for s in region.sentences]
        crops = images[:, :, region.top:region.top + SIZE, region.left:region.left + SIZE]
        out[:, j] = [correct(crop, objects) for crop in crops]
    return out

