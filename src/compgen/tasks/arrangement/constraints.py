"""The 13 qualitative constraint types of the 2D arrangement task, with exact checkers.

A scene is a tray ``[0, W] x [0, H]``, convex shapes and their poses (bounding-box centres). A
constraint is a type and the objects it touches, e.g. ``("left-of", 0, 2)``. The thresholds are
fractions of the tray, so they scale with it:

=============  =====  ===================================================================
type           arity  holds when
=============  =====  ===================================================================
in             1      the polygon lies in the tray
center-in      1      in, and the centre is in the middle third of the tray in x and y
left-in        1      in, and the centre is in the left third (x < W/3)
right-in       1      in, and x > 2W/3
bottom-in      1      in, and y < H/3
top-in         1      in, and y > 2H/3
cfree          2      the interiors do not overlap
left-of        2      a lies entirely left of b (max x of a <= min x of b)
top-of         2      a lies entirely above b (min y of a >= max y of b)
close-to       2      the centres are at most CLOSE * min(W, H) apart
away-from      2      the centres are at least AWAY * min(W, H) apart
h-aligned      2      the centres' y differ by at most ALIGN * H
v-aligned      2      the centres' x differ by at most ALIGN * W
=============  =====  ===================================================================

A solution must satisfy every constraint of its problem, plus ``in`` for every object and
``cfree`` for every pair (no collisions), whether or not the problem lists them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from compgen.tasks.arrangement.geometry import Point, Shape, bounds, inside, separation

CLOSE, AWAY, ALIGN = 0.3, 0.6, 0.02
TOLERANCE = 1e-6
UNARY = ("in", "center-in", "left-in", "right-in", "bottom-in", "top-in")
BINARY = ("cfree", "left-of", "top-of", "close-to", "away-from", "h-aligned", "v-aligned")
TYPES = UNARY + BINARY
ARITY = {**{t: 1 for t in UNARY}, **{t: 2 for t in BINARY}}


@dataclass(frozen=True)
class Constraint:
    """A constraint type over object indices, e.g. ``Constraint("left-of", (0, 2))``."""

    type: str
    objects: tuple[int, ...]

    def __post_init__(self):
        if self.type not in ARITY:
            raise ValueError(f"unknown constraint type {self.type!r}; choose one of {TYPES}")
        if len(self.objects) != ARITY[self.type]:
            raise ValueError(f"{self.type} takes {ARITY[self.type]} object(s), got {len(self.objects)}")
        if len(set(self.objects)) != len(self.objects):
            raise ValueError(f"{self.type} needs distinct objects, got {self.objects}")


@dataclass(frozen=True)
class Scene:
    """A tray (width, height), shapes and poses (one (x, y) bounding-box centre per shape)."""

    tray: tuple[float, float]
    shapes: tuple[Shape, ...]
    poses: tuple[Point, ...]

    def polygon(self, i: int) -> list[Point]:
        return self.shapes[i].placed(self.poses[i])


def holds(scene: Scene, c: Constraint, margin: float = 0.0) -> bool:
    """Whether constraint ``c`` holds in ``scene``; with ``margin`` > 0, whether it holds with
    that much to spare (a fraction of min(W, H)): every threshold moves inward by it."""
    W, H = scene.tray
    m = margin * min(W, H)
    if c.type in UNARY:
        (i,) = c.objects
        x, y = scene.poses[i]
        if not inside(scene.polygon(i), (m, m, W - m, H - m), TOLERANCE):
            return False
        return {
            "in": True,
            "center-in": W / 3 + m <= x <= 2 * W / 3 - m and H / 3 + m <= y <= 2 * H / 3 - m,
            "left-in": x < W / 3 - m, "right-in": x > 2 * W / 3 + m,
            "bottom-in": y < H / 3 - m, "top-in": y > 2 * H / 3 + m,
        }[c.type]
    a, b = c.objects
    pa, pb = scene.polygon(a), scene.polygon(b)
    (xa, ya), (xb, yb) = scene.poses[a], scene.poses[b]
    distance = math.hypot(xa - xb, ya - yb)
    if c.type == "cfree":
        return separation(pa, pb) >= m - TOLERANCE
    if c.type == "left-of":
        return bounds(pa)[2] + m <= bounds(pb)[0] + TOLERANCE
    if c.type == "top-of":
        return bounds(pa)[1] - m >= bounds(pb)[3] - TOLERANCE
    if c.type == "close-to":
        return distance <= CLOSE * min(W, H) - m
    if c.type == "away-from":
        return distance >= AWAY * min(W, H) + m
    if c.type == "h-aligned":
        return abs(ya - yb) <= ALIGN * H - m
    return abs(xa - xb) <= ALIGN * W - m  # v-aligned


def implicit_constraints(n: int) -> list[Constraint]:
    """What every solution must satisfy: each object in the tray, no pair colliding."""
    return ([Constraint("in", (i,)) for i in range(n)]
            + [Constraint("cfree", pair) for pair in itertools.combinations(range(n), 2)])


def is_solution(scene: Scene, constraints: list[Constraint]) -> bool:
    """Every listed constraint holds, every object is in the tray and no two collide."""
    return all(holds(scene, c) for c in constraints + implicit_constraints(len(scene.shapes)))


def true_relations(scene: Scene) -> list[Constraint]:
    """Every non-implicit constraint that holds in ``scene`` (over all objects and ordered pairs)."""
    n = len(scene.shapes)
    candidates = [Constraint(t, (i,)) for t in UNARY if t != "in" for i in range(n)]
    candidates += [Constraint(t, (i, j)) for t in BINARY if t != "cfree"
                   for i, j in itertools.permutations(range(n), 2)
                   if i < j or t in ("left-of", "top-of")]  # symmetric types once per pair
    return [c for c in candidates if holds(scene, c)]
