"""A deterministic detector for the synthetic scenes of :mod:`compgen.tasks.images.scenes`.

Each pixel bright enough (its largest channel above 0.5) takes the nearest palette colour;
each colour's 4-connected regions of at least ``MIN_AREA`` pixels are objects. The place is
the grid cell of the region's centroid; the shape comes from two features of the region:
how much of its bounding box it fills (a square fills all of it) and how much more of it lies
in its lower half than in its upper half (a triangle, apex up). Checked on ground-truth renders
before it judges generations (``compgen bench images`` reports that accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from compgen.tasks.images.scenes import CELL, COLOURS, SceneObject

MIN_AREA = 12  # a rendered shape has 31-49 pixels; specks of noise are not objects
SQUARE_FILL = 0.88  # square 1.0, circle 0.76, triangle 0.63 of their boxes
TRIANGLE_SKEW = 0.2  # (lower - upper half) / area: triangle 0.39, circle and square 0


@dataclass(frozen=True)
class Detection:
    shape: str
    colour: str
    place: int
    area: int


def detect(image: np.ndarray) -> list[Detection]:
    """Objects in one (3, H, W) image with values in [0, 1]."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"detect: image must have shape (3, H, W), got {image.shape}")
    palette = np.array(list(COLOURS.values()))  # (K, 3)
    pixels = image.reshape(3, -1).T  # (H*W, 3)
    nearest = ((pixels[:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)
    label = np.where(pixels.max(1) > 0.5, nearest, -1).reshape(image.shape[1:])
    found = []
    for k, colour in enumerate(COLOURS):
        regions, n = ndimage.label(label == k)
        for region in range(1, n + 1):
            rows, cols = np.nonzero(regions == region)
            if len(rows) < MIN_AREA:
                continue
            found.append(Detection(_shape(rows, cols), colour, _place(rows, cols),
                                   len(rows)))
    return found


def _shape(rows: np.ndarray, cols: np.ndarray) -> str:
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    if len(rows) / box > SQUARE_FILL:
        return "square"
    middle = (rows.max() + rows.min()) / 2
    skew = ((rows > middle).sum() - (rows < middle).sum()) / len(rows)
    return "triangle" if skew > TRIANGLE_SKEW else "circle"


def _place(rows: np.ndarray, cols: np.ndarray) -> int:
    r = min(int(rows.mean() // CELL), 2)
    c = min(int(cols.mean() // CELL), 2)
    return 3 * r + c


def present(detections: list[Detection], obj: SceneObject) -> bool:
    """Whether ``obj`` was detected as described (shape, colour and place)."""
    return any((d.shape, d.colour, d.place) == (obj.shape, obj.colour, obj.place) for d in detections)


def correct(image: np.ndarray, objects: list[SceneObject]) -> bool:
    """An image is correct when every described object is present as described (other objects
    may be there too: a sentence says nothing about the rest of the scene)."""
    detections = detect(image)
    return all(present(detections, o) for o in objects)


def exact(image: np.ndarray, objects: list[SceneObject]) -> bool:
    """The detections are exactly ``objects`` (for validating the detector on renders)."""
    found = sorted((d.shape, d.colour, d.place) for d in detect(image))
    return found == sorted((o.shape, o.colour, o.place) for o in objects)
