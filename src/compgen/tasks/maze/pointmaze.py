"""D4RL-style offline data from the real MuJoCo PointMaze environments (``gymnasium-robotics``).

A ball is pushed by a 2D force (the action, in [-1, 1]^2) around a maze of unit cells. A
waypoint controller follows shortest paths on the cell grid to a random goal cell, then picks
a new goal and continues, as D4RL's maze2d data were made. The data set is ``episodes``
stretches of ``episode_steps`` steps, each from a random free cell, recording observations
(x, y, vx, vy), actions and the current goal. Deterministic from the seed.

PointMaze-v3 is a port of D4RL's maze2d to new MuJoCo bindings, not D4RL itself: the layouts
and the episode limits below are D4RL's, the dynamics may differ in detail.
"""

from __future__ import annotations

import contextlib
import io
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from compgen.files import atomic_path, write_json

ENV_IDS = {"umaze": "PointMaze_UMaze-v3", "medium": "PointMaze_Medium-v3", "large": "PointMaze_Large-v3"}
EPISODE_LIMIT = {"umaze": 300, "medium": 600, "large": 800}  # D4RL's planning episode limits
D4RL_REFERENCE_RETURNS = {"umaze": (23.85, 161.86), "medium": (13.13, 277.39), "large": (6.7, 273.99)}
D4RL_STEPS = {"umaze": 1_000_000, "medium": 2_000_000, "large": 4_000_000}  # D4RL's data set sizes
FORMAT_VERSION = 1


def make_env(maze: str):
    """The gymnasium PointMaze environment (continuing, fixed goal) for ``maze``."""
    if maze not in ENV_IDS:
        raise ValueError(f"maze must be one of {sorted(ENV_IDS)}, got {maze!r}")
    try:
        import gymnasium as gym

        with contextlib.redirect_stderr(io.StringIO()):  # a notice about Adroit envs, not ours
            import gymnasium_robotics
    except ImportError as e:  # a core dependency; only a broken install lands here
        raise ImportError("PointMaze needs gymnasium-robotics: pip install gymnasium-robotics") from e
    gym.register_envs(gymnasium_robotics)
    return gym.make(ENV_IDS[maze], continuing_task=True, reset_target=False).unwrapped


@dataclass(frozen=True)
class MazeGrid:
    """The cell grid of a maze: ``walls[i][j]`` is True for a wall cell; unit cells, with cell
    (i, j) centred at ``(j + 0.5 - width / 2, height / 2 - i - 0.5)`` (gymnasium-robotics' layout)."""

    walls: tuple[tuple[bool, ...], ...]

    @classmethod
    def from_env(cls, env) -> MazeGrid:
        return cls(tuple(tuple(c == 1 for c in row) for row in env.maze.maze_map))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.walls), len(self.walls[0])

    def free_cells(self) -> list[tuple[int, int]]:
        return [(i, j) for i, row in enumerate(self.walls) for j, w in enumerate(row) if not w]

    def cell_center(self, cell: tuple[int, int]) -> np.ndarray:
        rows, cols = self.shape
        return np.array([cell[1] + 0.5 - cols / 2, rows / 2 - cell[0] - 0.5])

    def cell_of(self, xy) -> tuple[int, int]:
        rows, cols = self.shape
        return int(np.floor(rows / 2 - xy[1])), int(np.floor(xy[0] + cols / 2))

    def in_wall(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) positions -> (...) bool: the point lies in a wall cell or outside the grid."""
        rows, cols = self.shape
        i = np.floor(rows / 2 - xy[..., 1]).astype(int)
        j = np.floor(xy[..., 0] + cols / 2).astype(int)
        outside = (i < 0) | (i >= rows) | (j < 0) | (j >= cols)
        walls = np.array(self.walls)
        return outside | walls[i.clip(0, rows - 1), j.clip(0, cols - 1)]

    def distances_to(self, goal: tuple[int, int]) -> dict[tuple[int, int], int]:
        """Shortest-path length (in cells, 4-connected) from every reachable free cell to ``goal``."""
        dist, queue = {goal: 0}, deque([goal])
        rows, cols = self.shape
        while queue:
            i, j = queue.popleft()
            for n in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 <= n[0] < rows and 0 <= n[1] < cols and not self.walls[n[0]][n[1]] and n not in dist:
                    dist[n] = dist[(i, j)] + 1
                    queue.append(n)
        return dist


class WaypointController:
    """PD control toward the next cell on a shortest path to the goal (D4RL's maze2d gains).

    Aiming at the centre of an adjacent cell keeps the ball inside the two cells' union (a
    convex rectangle), so the path never cuts a wall corner.
    """

    def __init__(self, grid: MazeGrid, p_gain: float = 10.0, d_gain: float = 1.0):
        self.grid, self.p_gain, self.d_gain = grid, p_gain, d_gain
        self._goal_cell, self._dist = None, {}

    def waypoint(self, xy: np.ndarray, goal: np.ndarray) -> np.ndarray:
        goal_cell = self.grid.cell_of(goal)
        if goal_cell != self._goal_cell:
            self._goal_cell, self._dist = goal_cell, self.grid.distances_to(goal_cell)
        cell = self.grid.cell_of(xy)
        if cell == goal_cell or cell not in self._dist:
            return goal
        i, j = cell
        step = min(((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)),
                   key=lambda n: self._dist.get(n, np.inf))
        return self.grid.cell_center(step)

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """obs (4,) = (x, y, vx, vy) -> action (2,) in [-1, 1]."""
        target = self.waypoint(obs[:2], goal)
        return np.clip(self.p_gain * (target - obs[:2]) - self.d_gain * obs[2:], -1.0, 1.0)


def generate(maze: str, episodes: int, episode_steps: int = 1000, seed: int = 0,
             action_noise: float = 0.1, goal_radius: float = 0.5, progress: bool = True) -> dict:
    """Roll out the waypoint controller; returns arrays (episodes, episode_steps, ...):
    ``observations`` (x, y, vx, vy) before each action, ``actions``, ``goals``; and ``grid``.

    Each episode starts at a random free cell (plus the environment's position noise) and
    draws a new random goal cell whenever the ball comes within ``goal_radius`` of the goal.
    ``action_noise`` (Gaussian std, before clipping) varies the otherwise identical paths.
    """
    if episodes < 1 or episode_steps < 2:
        raise ValueError(f"need episodes >= 1 and episode_steps >= 2, got {episodes}, {episode_steps}")
    env = make_env(maze)
    grid = MazeGrid.from_env(env)
    cells = grid.free_cells()
    rng = np.random.default_rng(seed)
    controller = WaypointController(grid)
    obs = np.zeros((episodes, episode_steps, 4), np.float32)
    actions = np.zeros((episodes, episode_steps, 2), np.float32)
    goals = np.zeros((episodes, episode_steps, 2), np.float32)

    def random_goal(xy):
        while True:
            cell = cells[rng.integers(len(cells))]
            goal = grid.cell_center(cell) + rng.uniform(-0.25, 0.25, 2)
            if np.linalg.norm(goal - xy) > goal_radius:
                return goal

    for e in tqdm(range(episodes), disable=not progress, desc=f"PointMaze {maze}"):
        start = cells[rng.integers(len(cells))]
        o, _ = env.reset(seed=int(rng.integers(2**31)), options={"reset_cell": np.array(start)})
        state = o["observation"]
        goal = random_goal(state[:2])
        for t in range(episode_steps):
            if np.linalg.norm(state[:2] - goal) <= goal_radius:
                goal = random_goal(state[:2])
            action = np.clip(controller(state, goal) + action_noise * rng.standard_normal(2), -1, 1)
            obs[e, t], actions[e, t], goals[e, t] = state, action, goal
            state = env.point_env.step(action)[0]
    return {"observations": obs, "actions": actions, "goals": goals,
            "walls": np.array(grid.walls, dtype=bool)}


def save_dataset(path: str | Path, data: dict, **meta) -> None:
    """Write ``data`` to ``path`` (.npz) atomically, with a .json of metadata beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **data)
    write_json(path.with_suffix(".json"), {"format_version": FORMAT_VERSION,
                                           "shapes": {k: list(v.shape) for k, v in data.items()}, **meta})


def load_dataset(path: str | Path) -> dict:
    """Arrays written by :func:`save_dataset` (no pickles); a clear error if absent or malformed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; make it with `compgen maze-data`")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable PointMaze data set: {e}") from e
    missing = {"observations", "actions", "goals", "walls"} - set(data)
    if missing:
        raise ValueError(f"{path} lacks the arrays {sorted(missing)}")
    return data
