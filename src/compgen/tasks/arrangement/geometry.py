"""Exact 2D geometry of convex polygons: the ground truth every arrangement checker uses.

Shapes are convex polygons given by their vertices around the origin (counter-clockwise);
a pose is a translation (x, y). Overlap is decided by the separating axis theorem: two convex
polygons are disjoint exactly when some edge normal of one of them separates their projections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Point = tuple[float, float]


@dataclass(frozen=True)
class Shape:
    """A convex polygon around the origin: ``kind`` ("rect" or "triangle") and its vertices."""

    kind: str
    vertices: tuple[Point, ...]

    @classmethod
    def rect(cls, width: float, height: float) -> Shape:
        if not (width > 0 and height > 0):
            raise ValueError(f"a rectangle needs positive width and height, got {width} x {height}")
        w, h = width / 2, height / 2
        return cls("rect", ((-w, -h), (w, -h), (w, h), (-w, h)))

    @classmethod
    def triangle(cls, width: float, height: float, apex: float = 0.5) -> Shape:
        """A triangle with a horizontal base of ``width`` and its apex ``height`` above it, at
        fraction ``apex`` of the base; centred on its bounding box."""
        if not (width > 0 and height > 0 and 0 <= apex <= 1):
            raise ValueError(f"a triangle needs positive width and height and apex in [0, 1], "
                             f"got {width}, {height}, {apex}")
        w, h = width / 2, height / 2
        return cls("triangle", ((-w, -h), (w, -h), (-w + apex * width, h)))

    @property
    def size(self) -> tuple[float, float]:
        """Bounding-box width and height."""
        xs, ys = zip(*self.vertices, strict=True)
        return max(xs) - min(xs), max(ys) - min(ys)

    @property
    def apex(self) -> float:
        """Where a triangle's apex sits along its base, as a fraction (0.5 for rectangles)."""
        if self.kind != "triangle":
            return 0.5
        (x0, _), (x1, _), (xa, _) = self.vertices
        return (xa - x0) / (x1 - x0)

    def placed(self, pose: Point) -> list[Point]:
        return [(x + pose[0], y + pose[1]) for x, y in self.vertices]


def bounds(polygon: list[Point]) -> tuple[float, float, float, float]:
    """(min x, min y, max x, max y)."""
    xs, ys = zip(*polygon, strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def _axes(polygon: list[Point]) -> list[Point]:
    n = len(polygon)
    out = []
    for i in range(n):
        (x0, y0), (x1, y1) = polygon[i], polygon[(i + 1) % n]
        nx, ny = y1 - y0, x0 - x1
        norm = math.hypot(nx, ny)
        out.append((nx / norm, ny / norm))
    return out


def _project(polygon: list[Point], axis: Point) -> tuple[float, float]:
    dots = [x * axis[0] + y * axis[1] for x, y in polygon]
    return min(dots), max(dots)


def separation(a: list[Point], b: list[Point]) -> float:
    """The largest gap between the projections of two convex polygons over all edge normals:
    positive when they are disjoint (a lower bound on their distance), negative when they
    overlap (minus the smallest push that separates them)."""
    best = -math.inf
    for axis in _axes(a) + _axes(b):
        a0, a1 = _project(a, axis)
        b0, b1 = _project(b, axis)
        best = max(best, b0 - a1, a0 - b1)
    return best


def overlaps(a: list[Point], b: list[Point], tolerance: float = 1e-9) -> bool:
    """Whether the interiors of two convex polygons intersect (touching is not overlapping)."""
    return separation(a, b) < -tolerance


def inside(polygon: list[Point], box: tuple[float, float, float, float], tolerance: float = 1e-9) -> bool:
    """Whether every vertex lies in the axis-aligned box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    return all(x0 - tolerance <= x <= x1 + tolerance and y0 - tolerance <= y <= y1 + tolerance
               for x, y in polygon)
