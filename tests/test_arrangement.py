"""The arrangement task's exact geometry, every constraint checker, random problems, and the
problem file parser with its errors."""

import json
import random
import re

import pytest

from compgen.tasks.arrangement.constraints import (
    TYPES,
    Constraint,
    Scene,
    holds,
    is_solution,
    true_relations,
)
from compgen.tasks.arrangement.geometry import Shape, overlaps, separation
from compgen.tasks.arrangement.problems import (
    ProblemFileError,
    load_problem,
    parse_problem,
    random_problem,
)
from conftest import cli_error


def scene(*placed, tray=(1.0, 1.0)):
    """scene((shape, (x, y)), ...)"""
    return Scene(tray, tuple(s for s, _ in placed), tuple(p for _, p in placed))


def _inside_polygon(poly, x, y):
    """Point strictly inside a counter-clockwise convex polygon."""
    n = len(poly)
    return all((poly[(i + 1) % n][0] - poly[i][0]) * (y - poly[i][1])
               - (poly[(i + 1) % n][1] - poly[i][1]) * (x - poly[i][0]) > 1e-9 for i in range(n))


def test_separating_axis_overlap_matches_a_dense_point_test():
    """On random pairs, SAT overlap agrees with 'some grid point is strictly inside both',
    except where the true overlap is thinner than the grid can see."""
    rng = random.Random(0)
    grid = [(i / 150 * 2 - 0.5, j / 150 * 2 - 0.5) for i in range(151) for j in range(151)]
    checked = 0
    for _ in range(150):
        shapes = [Shape.triangle(rng.uniform(.2, .6), rng.uniform(.2, .6), rng.random()) if rng.random() < .5
                  else Shape.rect(rng.uniform(.2, .6), rng.uniform(.2, .6)) for _ in range(2)]
        a = shapes[0].placed((rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)))
        b = shapes[1].placed((rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)))
        if abs(separation(a, b)) < 0.03:  # too thin to resolve on a 0.013 grid
            continue
        dense = any(_inside_polygon(a, x, y) and _inside_polygon(b, x, y) for x, y in grid)
        assert overlaps(a, b) == dense
        checked += 1
    assert checked > 100


def test_touching_is_not_overlapping():
    a, b = Shape.rect(0.2, 0.2).placed((0.3, 0.5)), Shape.rect(0.2, 0.2).placed((0.5, 0.5))
    assert not overlaps(a, b) and separation(a, b) == pytest.approx(0.0)
    assert overlaps(a, Shape.rect(0.2, 0.2).placed((0.49, 0.5)))


@pytest.mark.parametrize("kind, objects, true_poses, false_poses", [
    ("in", (0,), [(0.5, 0.5)], [(0.95, 0.5)]),
    ("center-in", (0,), [(0.5, 0.5)], [(0.2, 0.5)]),
    ("left-in", (0,), [(0.2, 0.5)], [(0.5, 0.5)]),
    ("right-in", (0,), [(0.8, 0.5)], [(0.5, 0.5)]),
    ("bottom-in", (0,), [(0.5, 0.2)], [(0.5, 0.5)]),
    ("top-in", (0,), [(0.5, 0.8)], [(0.5, 0.5)]),
    ("cfree", (0, 1), [(0.2, 0.5), (0.6, 0.5)], [(0.2, 0.5), (0.25, 0.5)]),
    ("left-of", (0, 1), [(0.2, 0.5), (0.6, 0.5)], [(0.2, 0.5), (0.25, 0.9)]),
    ("top-of", (0, 1), [(0.5, 0.8), (0.5, 0.2)], [(0.5, 0.8), (0.5, 0.7)]),
    ("close-to", (0, 1), [(0.2, 0.5), (0.45, 0.5)], [(0.2, 0.5), (0.8, 0.5)]),
    ("away-from", (0, 1), [(0.2, 0.2), (0.8, 0.8)], [(0.2, 0.5), (0.45, 0.5)]),
    ("h-aligned", (0, 1), [(0.2, 0.5), (0.8, 0.51)], [(0.2, 0.5), (0.8, 0.6)]),
    ("v-aligned", (0, 1), [(0.5, 0.2), (0.51, 0.8)], [(0.5, 0.2), (0.6, 0.8)]),
])
def test_every_constraint_checker(kind, objects, true_poses, false_poses):
    square = Shape.rect(0.2, 0.2)
    c = Constraint(kind, objects)
    assert holds(scene(*[(square, p) for p in true_poses]), c)
    assert not holds(scene(*[(square, p) for p in false_poses]), c)


def test_region_constraints_need_the_object_in_the_tray():
    big = Shape.rect(0.5, 0.2)
    assert not holds(scene((big, (0.1, 0.5))), Constraint("left-in", (0,)))  # centre left, body out
    assert holds(scene((big, (0.26, 0.5))), Constraint("left-in", (0,)))


def test_triangles_use_their_real_outline():
    """A triangle's empty corner lets a small square sit inside its bounding box, collision-free."""
    tri = Shape.triangle(0.4, 0.4, apex=0.0)  # right angle at the bottom-left
    s = scene((tri, (0.5, 0.5)), (Shape.rect(0.08, 0.08), (0.64, 0.64)))
    assert holds(s, Constraint("cfree", (0, 1)))
    s = scene((tri, (0.5, 0.5)), (Shape.rect(0.08, 0.08), (0.36, 0.36)))
    assert not holds(s, Constraint("cfree", (0, 1)))


def test_random_problems_are_solved_by_their_scene_and_cover_every_type():
    seen = set()
    for n in range(2, 9):
        for seed in range(25):
            p = random_problem(n, seed)
            s = p.scene(p.solution)
            assert is_solution(s, p.constraints)
            assert set(true_relations(s)) >= set(p.constraints)
            seen |= {c.type for c in p.constraints}
    assert seen == set(TYPES) - {"in", "cfree"}  # the two implicit types are never listed


def test_a_solution_check_fails_on_collisions_even_when_unlisted():
    p = random_problem(3, 0)
    poses = list(p.solution)
    poses[1] = poses[0]
    assert not is_solution(p.scene(poses), [])


def test_problem_file_round_trip(tmp_path):
    p = random_problem(5, 3)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(p.to_json()))
    q = load_problem(path)
    assert q.names == p.names and q.constraints == p.constraints and q.tray == p.tray
    assert [s.kind for s in q.shapes] == [s.kind for s in p.shapes]
    for a, b in zip(q.shapes, p.shapes, strict=True):
        assert [v for p in a.vertices for v in p] == pytest.approx([v for p in b.vertices for v in p])
    assert is_solution(q.scene(q.solution), q.constraints)


GOOD = {"tray": {"width": 1, "height": 1},
        "objects": [{"name": "a", "shape": "rect", "width": 0.2, "height": 0.1},
                    {"name": "b", "shape": "triangle", "width": 0.2, "height": 0.2}],
        "constraints": [["left-of", "a", "b"]]}


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("tray"), "missing field 'tray'"),
    (lambda d: d["tray"].update(width=-1), r"tray.width: expected a positive number, got -1"),
    (lambda d: d.update(objects=[]), "objects: expected a non-empty list"),
    (lambda d: d["objects"][1].update(shape="circle"), r"objects\[1\].shape: expected one of"),
    (lambda d: d["objects"][0].update(height="tall"), r"objects\[0\].height: expected a number"),
    (lambda d: d["objects"][1].update(name="a"), r"objects\[1\].name: duplicate name 'a'"),
    (lambda d: d["objects"][1].update(apex=2), r"objects\[1\].apex: expected a number in \[0, 1\]"),
    (lambda d: d["constraints"].append(["next-to", "a", "b"]), r"constraints\[1\]: unknown constraint type"),
    (lambda d: d["constraints"].append(["left-of", "a"]), r"constraints\[1\]: left-of takes 2 object"),
    (lambda d: d["constraints"].append(["top-in", "c"]), r"constraints\[1\]: unknown object 'c'"),
    (lambda d: d["constraints"].append(["close-to", "a", "a"]), r"constraints\[1\]: close-to needs distinct"),
    (lambda d: d.update(solution={"a": [0.1, 0.2]}), "solution: expected a pose"),
    (lambda d: d.update(solution={"a": [0.1, 0.2], "b": [0.3]}), r"solution.b: expected \[x, y\]"),
])
def test_malformed_problem_files_name_the_field(edit, message):
    data = json.loads(json.dumps(GOOD))
    parse_problem(data)  # the unedited problem is fine
    edit(data)
    with pytest.raises(ProblemFileError, match=message):
        parse_problem(data)


def test_invalid_json_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ProblemFileError, match="not valid JSON"):
        load_problem(path)


def test_baselines_solve_easy_problems_and_report_exactly():
    from compgen.tasks.arrangement.baselines import penalty_optimizer, rejection_sampling

    problems = [random_problem(2, 500 + k) for k in range(8)]
    assert sum(penalty_optimizer(p, restarts=4, seed=k)[0]["solved"] for k, p in enumerate(problems)) >= 7
    found = [any(r["solved"] for r in rejection_sampling(p, 500, seed=k)) for k, p in enumerate(problems)]
    assert sum(found) >= 6
    for r in penalty_optimizer(problems[0], restarts=3):  # the flag is the exact checker's verdict
        assert r["solved"] == is_solution(problems[0].scene(r["poses"]), problems[0].constraints)


def test_composed_factors_solve_small_problems_end_to_end():
    """The shipped factor networks, composed and sampled with annealed MALA: two-object problems
    (a training size) are solved best-of-10 (10 of 10 such problems in development)."""
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.arrangement.factors import factor_graph, solve

    models = {name: load_pretrained(f"arrangement_{name}") for name in ("unary", "binary")}
    for k in range(3):
        problem = random_problem(2, 2000 + k)
        graph = factor_graph(problem, models)
        assert graph.num_factors == 2 + 1 + len(problem.constraints)  # in x2, cfree, listed
        ranked = solve(problem, models, candidates=10, seed=k)
        assert [r["energy"] for r in ranked] == sorted(r["energy"] for r in ranked)
        assert any(r["solved"] for r in ranked)


def test_cli_arrange_writes_a_problem_solves_it_and_rejects_bad_files(tmp_path, capsys):
    from compgen.cli import main

    path = tmp_path / "p.json"
    main(["arrange-problem", "--objects", "2", "--seed", "3", "--out", str(path)])
    main(["arrange", str(path), "--out", str(tmp_path / "a.png"), "--quiet"])
    out = capsys.readouterr().out
    assert "candidates solve it" in out and (tmp_path / "a.png").stat().st_size > 5000
    data = json.loads(path.read_text())
    data["objects"][0]["shape"] = "hexagon"
    path.write_text(json.dumps(data))
    assert re.search(r"objects\[0\].shape", cli_error(capsys, ["arrange", str(path), "--quiet"]))
