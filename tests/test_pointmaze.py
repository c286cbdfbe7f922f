"""PointMaze data: the maze grid against gymnasium-robotics' own layout, the waypoint controller
in the real simulator, and the data set format."""

import numpy as np
import pytest

from compgen.tasks.maze.pointmaze import (
    MazeGrid,
    WaypointController,
    generate,
    load_dataset,
    make_env,
    save_dataset,
)


@pytest.fixture(scope="module")
def umaze():
    return make_env("umaze")


def test_grid_matches_the_environment(umaze):
    grid = MazeGrid.from_env(umaze)
    assert grid.shape == (5, 5) and len(grid.free_cells()) == 7
    for cell in grid.free_cells():
        centre = grid.cell_center(cell)
        np.testing.assert_allclose(centre, umaze.maze.cell_rowcol_to_xy(np.array(cell)))
        assert grid.cell_of(centre) == cell and not grid.in_wall(centre)
    assert grid.in_wall(np.array([[0.0, 0.0], [9.0, 0.0]])).tolist() == [True, True]  # wall; outside
    # the U: going from one arm's end to the other's takes the long way round
    assert grid.distances_to((1, 1))[(3, 1)] == 6


def test_controller_reaches_the_far_end_of_the_u_without_touching_walls(umaze):
    grid = MazeGrid.from_env(umaze)
    controller = WaypointController(grid)
    obs, _ = umaze.reset(seed=0, options={"reset_cell": np.array([1, 1]), "goal_cell": np.array([3, 1])})
    state, goal = obs["observation"], grid.cell_center((3, 1))
    path = []
    for _ in range(300):  # D4RL's U-maze episode limit
        state = umaze.point_env.step(controller(state, goal))[0]
        path.append(state[:2].copy())
        if np.linalg.norm(state[:2] - goal) < 0.1:
            break
    path = np.array(path)
    assert np.linalg.norm(path[-1] - goal) < 0.1, f"ended at {path[-1]}, goal {goal}"
    assert not grid.in_wall(path).any()
    assert path[:, 0].max() > grid.cell_center((1, 3))[0] - 0.2  # went round through the right arm


def test_generate_is_deterministic_and_well_formed(tmp_path):
    a = generate("umaze", episodes=2, episode_steps=200, seed=3, progress=False)
    b = generate("umaze", episodes=2, episode_steps=200, seed=3, progress=False)
    for key in ("observations", "actions", "goals"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["observations"].shape == (2, 200, 4) and a["actions"].shape == (2, 200, 2)
    assert np.abs(a["actions"]).max() <= 1.0
    assert not MazeGrid(tuple(map(tuple, a["walls"]))).in_wall(a["observations"][..., :2]).any()
    assert len(np.unique(a["goals"].reshape(-1, 2), axis=0)) > 2  # goals change as they are reached
    assert not np.array_equal(generate("umaze", 1, 200, seed=4, progress=False)["observations"],
                              a["observations"][:1])

    path = tmp_path / "umaze.npz"
    save_dataset(path, a, maze="umaze", seed=3)
    loaded = load_dataset(path)
    np.testing.assert_array_equal(loaded["observations"], a["observations"])
    assert path.with_suffix(".json").exists() and not list(tmp_path.glob("*.tmp*"))


def test_dataset_errors(tmp_path):
    with pytest.raises(ValueError, match="maze must be one of"):
        make_env("huge")
    with pytest.raises(FileNotFoundError, match="compgen maze-data"):
        load_dataset(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a readable PointMaze data set"):
        load_dataset(bad)
    np.savez(tmp_path / "partial.npz", observations=np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"lacks the arrays \['actions', 'goals', 'walls'\]"):
        load_dataset(tmp_path / "partial.npz")
