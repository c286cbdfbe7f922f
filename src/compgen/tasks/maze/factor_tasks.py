"""``compgen bench maze-factors``: new planning tasks by adding factors, with no retraining.

- waypoint (U-maze): start, goal and waypoint cells at random; the plan's position at its
  middle step is clamped to the waypoint. Solved: the executed path passes within
  GOAL_RADIUS of the waypoint and reaches the goal.
- avoid (medium maze): pairs whose shortest path crosses a cell that has a detour; every
  step's position is divided by a bump on that cell (:func:`avoid`). Solved: the path reaches
  the goal and never comes within AVOID_RADIUS of the cell's centre.
- one of two goals (U-maze): the goal factor is a mixture over two goal cells. Solved: either
  goal reached; also recorded: whether the nearer one (by shortest path) was chosen.

Waypoint and avoid are also planned without their factor on the same cases, so the table
shows what the factor changed. Writes maze_factors.{json,md}.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from compgen.tasks.maze.planning import GOAL_RADIUS, HOLD, HORIZONS, avoid, execute, plan, start_state
from compgen.tasks.maze.planning_bench import planning_setup
from compgen.tasks.maze.pointmaze import MazeGrid
from compgen.tasks.results import finish, machine

AVOID_RADIUS = 0.4
CANDIDATES = 2


def _detour_cells(grid: MazeGrid, start: tuple, goal: tuple) -> list[tuple]:
    """Cells on a shortest start-goal path whose removal leaves the goal reachable."""
    dist_goal, dist_start = grid.distances_to(goal), grid.distances_to(start)
    length = dist_goal[start]
    on_path = [c for c in grid.free_cells() if c not in (start, goal)
               and dist_goal.get(c, 1e9) + dist_start.get(c, 1e9) == length]
    out = []
    for c in on_path:
        walls = [list(row) for row in grid.walls]
        walls[c[0]][c[1]] = True
        if start in MazeGrid(tuple(map(tuple, walls))).distances_to(goal):
            out.append(c)
    return out


def _cases(task: str, grid: MazeGrid, n: int, rng: np.random.Generator) -> list[dict]:
    cells = grid.free_cells()
    cases = []
    while len(cases) < n:
        picks = [cells[i] for i in rng.choice(len(cells), 3, replace=False)]
        case = {"start": picks[0], "goal": picks[1], "start_state": start_state(grid, picks[0], rng)}
        if task == "waypoint":
            case["waypoint"] = picks[2]
        elif task == "two goals":
            case["goal2"] = picks[2]
        else:
            detours = _detour_cells(grid, picks[0], picks[1])
            if not detours:
                continue
            case["avoid"] = detours[rng.integers(len(detours))]
        cases.append(case)
    return cases


def run_maze_factors(out: Path, models: Path, n: int = 20, seed: int = 0, progress: bool = True) -> dict:
    """Each task on ``n`` random cases; models ``{models}/{maze}_h16`` and ``_h8``."""
    out.mkdir(parents=True, exist_ok=True)
    result = {"candidates": CANDIDATES, "hold": HOLD, "machine": machine(), "tasks": {}}
    for task, maze in (("waypoint", "umaze"), ("avoid", "medium"), ("two goals", "umaze")):
        env, grid, prior, normalizer, _ = planning_setup(Path(models), maze)
        horizon = HORIZONS[maze]
        rows = []
        for k, case in enumerate(tqdm(_cases(task, grid, n, np.random.default_rng(seed)),
                                      disable=not progress, desc=task)):
            start, goal = case["start_state"], grid.cell_center(case["goal"])
            row = {key: list(case[key]) for key in ("start", "goal", "waypoint", "avoid", "goal2")
                   if key in case}
            for variant in ["with factor"] + (["without"] if task != "two goals" else []):
                added, goals = {}, goal
                if variant == "with factor" and task == "waypoint":
                    added["waypoints"] = [((horizon - HOLD) // 2, grid.cell_center(case["waypoint"]))]
                if variant == "with factor" and task == "avoid":
                    added["extra"] = avoid(normalizer, horizon, grid.cell_center(case["avoid"]), AVOID_RADIUS)
                if task == "two goals":
                    goals = np.stack([goal, grid.cell_center(case["goal2"])])
                planned = plan(prior, normalizer, start, goals, CANDIDATES, seed=seed + k, **added)
                executed = execute(env, planned, start, goals, maze)
                row[variant] = _judge(task, case, grid, executed)
            rows.append(row)
        result["tasks"][task] = {"maze": maze, "horizon": horizon, "cases": rows}
    result["summary"] = _summary(result)
    return finish(out, "maze_factors", result, _table(result), None)


def _judge(task: str, case: dict, grid: MazeGrid, executed: dict) -> dict:
    path = executed["path"]
    verdict = {"reached": executed["success"], "return": executed["return"]}
    if task == "waypoint":
        verdict["passed"] = bool(np.linalg.norm(path - grid.cell_center(case["waypoint"]), axis=1).min()
                                 <= GOAL_RADIUS)
        verdict["solved"] = verdict["reached"] and verdict["passed"]
    elif task == "avoid":
        verdict["avoided"] = bool(np.linalg.norm(path - grid.cell_center(case["avoid"]), axis=1).min()
                                  > AVOID_RADIUS)
        verdict["solved"] = verdict["reached"] and verdict["avoided"]
    else:
        goals = [case["goal"], case["goal2"]]
        nearer = min(goals, key=lambda g: grid.distances_to(g)[case["start"]])
        first = _first_reached(path, [grid.cell_center(g) for g in goals])
        verdict["chose_nearer"] = first is not None and goals[first] == nearer
        verdict["solved"] = verdict["reached"]
    return verdict


def _first_reached(path: np.ndarray, goals: list[np.ndarray]) -> int | None:
    for xy in path:
        for i, g in enumerate(goals):
            if np.linalg.norm(xy - g) <= GOAL_RADIUS:
                return i
    return None


def _summary(result: dict) -> list[dict]:
    rows = []
    for task, entry in result["tasks"].items():
        for variant in ("with factor", "without"):
            verdicts = [c[variant] for c in entry["cases"] if variant in c]
            if not verdicts:
                continue
            row = {"task": task, "maze": entry["maze"], "variant": variant, "cases": len(verdicts)}
            for key in verdicts[0]:
                if key != "return":
                    row[key] = statistics.mean(float(v[key]) for v in verdicts)
            rows.append(row)
    return rows


def _table(result: dict) -> str:
    lines = ["New tasks by adding factors to the same planning prior (no retraining); fractions of "
             f"cases, best of {result['candidates']} plans", "",
             "| task | maze | factor | cases | solved | goal reached | task-specific |",
             "|---|---|---|---|---|---|---|"]
    for r in result["summary"]:
        extra = ", ".join(f"{k} {100 * r[k]:.0f}%" for k in ("passed", "avoided", "chose_nearer") if k in r)
        lines.append(f"| {r['task']} | {r['maze']} | {r['variant']} | {r['cases']} | "
                     f"{100 * r['solved']:.0f}% | {100 * r['reached']:.0f}% | {extra} |")
    return "\n".join(lines)
