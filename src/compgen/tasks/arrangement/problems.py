"""Arrangement problems: random scenes solved by construction, and the JSON problem file.

:func:`random_scene` splits the tray recursively into as many cells as objects (always the
largest cell, across its longer side) and puts one object in each cell, so the scene is a
solution by construction: no collisions, everything in the tray. Half of the objects sit at
their cell's centre, which makes alignments occur as they do in tidy arrangements.
:func:`random_problem` keeps a random subset of the scene's true relations as the constraint
graph; the scene is the known solution.

Problem file::

    {"tray": {"width": 1.0, "height": 1.0},
     "objects": [{"name": "cup", "shape": "rect", "width": 0.2, "height": 0.1},
                 {"name": "lid", "shape": "triangle", "width": 0.2, "height": 0.2}],
     "constraints": [["left-of", "cup", "lid"], ["top-in", "lid"]],
     "solution": {"cup": [0.2, 0.5], "lid": [0.7, 0.8]}}        # optional

Every object is implicitly in the tray and collision-free with every other.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from compgen.tasks.arrangement.constraints import ARITY, TYPES, Constraint, Scene, true_relations
from compgen.tasks.arrangement.geometry import Shape

SHAPES = ("rect", "triangle")


@dataclass
class Problem:
    """Objects (names, shapes) in a tray and constraints over them; maybe a known solution."""

    tray: tuple[float, float]
    names: list[str]
    shapes: list[Shape]
    constraints: list[Constraint]
    solution: list[tuple[float, float]] | None = None

    def scene(self, poses) -> Scene:
        return Scene(self.tray, tuple(self.shapes), tuple((float(x), float(y)) for x, y in poses))

    def to_json(self) -> dict:
        objects = [{"name": n, "shape": s.kind, "width": s.size[0], "height": s.size[1],
                    **({"apex": s.apex} if s.kind == "triangle" else {})}
                   for n, s in zip(self.names, self.shapes, strict=True)]
        out = {"tray": {"width": self.tray[0], "height": self.tray[1]}, "objects": objects,
               "constraints": [[c.type, *(self.names[i] for i in c.objects)] for c in self.constraints]}
        if self.solution is not None:
            out["solution"] = {n: list(p) for n, p in zip(self.names, self.solution, strict=True)}
        return out


def random_scene(n: int, rng: random.Random, tray: tuple[float, float] = (1.0, 1.0),
                 triangle_fraction: float = 0.3) -> Scene:
    """A scene of ``n`` objects that is collision-free and inside the tray by construction."""
    if n < 1:
        raise ValueError(f"need at least one object, got {n}")
    cells = [(0.0, 0.0, tray[0], tray[1])]
    while len(cells) < n:
        cells.sort(key=lambda c: (c[2] - c[0]) * (c[3] - c[1]))
        x0, y0, x1, y1 = cells.pop()
        f = rng.uniform(0.35, 0.65)
        if x1 - x0 >= y1 - y0:
            xm = x0 + f * (x1 - x0)
            cells += [(x0, y0, xm, y1), (xm, y0, x1, y1)]
        else:
            ym = y0 + f * (y1 - y0)
            cells += [(x0, y0, x1, ym), (x0, ym, x1, y1)]
    rng.shuffle(cells)
    shapes, poses = [], []
    for x0, y0, x1, y1 in cells:
        w, h = (x1 - x0) * rng.uniform(0.45, 0.85), (y1 - y0) * rng.uniform(0.45, 0.85)
        shape = (Shape.triangle(w, h, rng.uniform(0.0, 1.0)) if rng.random() < triangle_fraction
                 else Shape.rect(w, h))
        if rng.random() < 0.5:  # centred in its cell
            pose = ((x0 + x1) / 2, (y0 + y1) / 2)
        else:
            pose = (rng.uniform(x0 + w / 2, x1 - w / 2), rng.uniform(y0 + h / 2, y1 - h / 2))
        shapes.append(shape)
        poses.append(pose)
    return Scene(tray, tuple(shapes), tuple(poses))


def random_problem(n: int, seed: int, constraints_per_object: float = 1.5) -> Problem:
    """A problem over ``n`` objects whose constraints are true relations of a random scene.

    Each constraint draws a type uniformly among those still available, then a relation of
    that type, so rare relations (centre-in, alignments) are not drowned by left-of / top-of.
    """
    rng = random.Random(seed)
    scene = random_scene(n, rng)
    by_type: dict[str, list[Constraint]] = {}
    for c in true_relations(scene):
        by_type.setdefault(c.type, []).append(c)
    chosen = []
    for _ in range(max(1, round(constraints_per_object * n))):
        if not by_type:
            break
        kind = rng.choice(sorted(by_type))
        chosen.append(by_type[kind].pop(rng.randrange(len(by_type[kind]))))
        if not by_type[kind]:
            del by_type[kind]
    chosen.sort(key=lambda c: (TYPES.index(c.type), c.objects))
    return Problem(scene.tray, [f"o{i}" for i in range(n)], list(scene.shapes), chosen, list(scene.poses))


# -- the problem file ----------------------------------------------------------------------
class ProblemFileError(ValueError):
    """A problem file is malformed; the message names the field."""


def _number(value, where: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemFileError(f"{where}: expected a number, got {value!r}")
    if positive and not value > 0:
        raise ProblemFileError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def parse_problem(data: dict) -> Problem:
    """Build a :class:`Problem` from the JSON structure above; raises :class:`ProblemFileError`."""
    if not isinstance(data, dict):
        raise ProblemFileError(f"the problem must be a JSON object, got {type(data).__name__}")
    for key in ("tray", "objects", "constraints"):
        if key not in data:
            raise ProblemFileError(f"missing field {key!r}")
    tray = data["tray"]
    if not isinstance(tray, dict):
        raise ProblemFileError(f"tray: expected an object with width and height, got {tray!r}")
    size = (_number(tray.get("width"), "tray.width"), _number(tray.get("height"), "tray.height"))
    names, shapes = _parse_objects(data["objects"])
    constraints = _parse_constraints(data["constraints"], names)
    solution = _parse_solution(data["solution"], names) if "solution" in data else None
    return Problem(size, names, shapes, constraints, solution)


def _parse_objects(objects) -> tuple[list[str], list[Shape]]:
    if not isinstance(objects, list) or not objects:
        raise ProblemFileError("objects: expected a non-empty list")
    names, shapes = [], []
    for i, obj in enumerate(objects):
        where = f"objects[{i}]"
        if not isinstance(obj, dict):
            raise ProblemFileError(f"{where}: expected an object, got {obj!r}")
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise ProblemFileError(f"{where}.name: expected a non-empty string, got {name!r}")
        if name in names:
            raise ProblemFileError(f"{where}.name: duplicate name {name!r}")
        kind = obj.get("shape")
        if kind not in SHAPES:
            raise ProblemFileError(f"{where}.shape: expected one of {SHAPES}, got {kind!r}")
        w, h = _number(obj.get("width"), f"{where}.width"), _number(obj.get("height"), f"{where}.height")
        if kind == "rect":
            shapes.append(Shape.rect(w, h))
        else:
            apex = _number(obj.get("apex", 0.5), f"{where}.apex", positive=False)
            if not 0 <= apex <= 1:
                raise ProblemFileError(f"{where}.apex: expected a number in [0, 1], got {apex}")
            shapes.append(Shape.triangle(w, h, apex))
        names.append(name)
    return names, shapes


def _parse_constraints(items, names: list[str]) -> list[Constraint]:
    index = {n: i for i, n in enumerate(names)}
    if not isinstance(items, list):
        raise ProblemFileError("constraints: expected a list")
    constraints = []
    for i, item in enumerate(items):
        where = f"constraints[{i}]"
        if not isinstance(item, list) or not item:
            raise ProblemFileError(f"{where}: expected [type, object, ...], got {item!r}")
        kind, *args = item
        if kind not in ARITY:
            raise ProblemFileError(f"{where}: unknown constraint type {kind!r}; choose one of {TYPES}")
        if len(args) != ARITY[kind]:
            raise ProblemFileError(f"{where}: {kind} takes {ARITY[kind]} object(s), got {len(args)}")
        for a in args:
            if a not in index:
                raise ProblemFileError(f"{where}: unknown object {a!r}; objects are {names}")
        if len(set(args)) != len(args):
            raise ProblemFileError(f"{where}: {kind} needs distinct objects, got {args}")
        constraints.append(Constraint(kind, tuple(index[a] for a in args)))
    return constraints


def _parse_solution(sol, names: list[str]) -> list[tuple[float, float]]:
    if not isinstance(sol, dict) or set(sol) != set(names):
        raise ProblemFileError(f"solution: expected a pose [x, y] for each of {names}")
    solution = []
    for n in names:
        pose = sol[n]
        if not isinstance(pose, list) or len(pose) != 2:
            raise ProblemFileError(f"solution.{n}: expected [x, y], got {pose!r}")
        solution.append((_number(pose[0], f"solution.{n}[0]", positive=False),
                         _number(pose[1], f"solution.{n}[1]", positive=False)))
    return solution


def load_problem(path: str | Path) -> Problem:
    """Read a problem file; a malformed file raises :class:`ProblemFileError` naming the field."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ProblemFileError(f"{path}: not valid JSON ({err})") from err
    return parse_problem(data)
