"""PointMaze trajectories: normalization, windows, the factorized product, the dynamics check."""

import json

import numpy as np
import pytest
import torch

from compgen.algebra.factor_graph import FactorGraph
from compgen.tasks.maze.planning import anchor, avoid, execute, free_space, plan
from compgen.tasks.maze.pointmaze import generate, make_env
from compgen.tasks.maze.trajectories import (
    CHANNELS,
    Normalizer,
    dynamics_error,
    factorized,
    steps_of,
    trajectory_model,
    windows,
)


@pytest.fixture(scope="module")
def data():
    return generate("umaze", episodes=2, episode_steps=64, seed=0, progress=False)


def test_windows_are_step_major_and_normalized(data):
    steps = steps_of(data)
    assert steps.shape == (2, 64, CHANNELS)
    norm = Normalizer.fit(steps)
    w = windows(steps, 8, norm)
    assert w.shape == (2 * 57, 8 * CHANNELS)
    # window 3 of episode 1 is steps 3..10 of episode 1, step-major
    torch.testing.assert_close(norm.decode(w[57 + 3]), torch.tensor(steps[1, 3:11]), rtol=1e-5,
                               atol=1e-5)
    z = norm.encode(steps).view(-1, CHANNELS)
    torch.testing.assert_close(z.mean(0), torch.zeros(CHANNELS), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(CHANNELS), atol=1e-4, rtol=0)


def test_factorized_is_windows_over_overlaps():
    window, overlap = trajectory_model(8, width=8, depth=1), trajectory_model(4, width=8, depth=1, seed=1)
    graph = factorized(window, overlap, horizon=16)
    x = torch.randn(3, 16 * CHANNELS, generator=torch.Generator().manual_seed(0))
    span = lambda a, n: x[:, a * CHANNELS:(a + n) * CHANNELS]  # noqa: E731
    expected = sum(window.energy(span(a, 8), 0.3) for a in (0, 4, 8))
    expected = expected - sum(overlap.energy(span(a, 4), 0.3) for a in (4, 8))
    torch.testing.assert_close(graph.energy(x, 0.3), expected.detach(), rtol=1e-4, atol=1e-4)
    assert graph.num_factors == 5
    with pytest.raises(ValueError, match="need overlap = window / 2"):
        factorized(window, window, horizon=16)
    with pytest.raises(ValueError, match="horizon - window"):
        factorized(window, overlap, horizon=18)


def test_dynamics_error_is_zero_on_real_data_and_sees_errors(data):
    env = make_env("umaze")
    real = torch.tensor(steps_of(data)[:, :40])
    assert dynamics_error(env, real)["position_error"] < 1e-6
    shifted = real.clone()
    shifted[:, 1::2, :2] += 0.05  # every other position moved 5 cm
    err = dynamics_error(env, shifted)
    assert err["position_error"] == pytest.approx(0.05 * 2**0.5, rel=0.01)  # every step sees one shift
    walled = real.clone()
    walled[0, :10, :2] = 0.0  # the U-maze's central wall block
    assert dynamics_error(env, walled)["in_wall"] == pytest.approx(10 / 80)


def test_anchor_pins_the_right_coordinates():
    norm = Normalizer(mean=(1.0, 2.0, 0.0, 0.0, 0.0, 0.0), std=(2.0, 4.0, 1.0, 1.0, 1.0, 1.0))
    model, idx, cond = anchor(norm, [3], [3.0, 2.0], slice(0, 2), std=0.1)
    assert idx == [18, 19] and cond is None
    torch.testing.assert_close(model.means, torch.tensor([[1.0, 0.0]]))  # (3-1)/2, (2-2)/4


def test_tracking_a_recorded_path_reaches_its_end(data):
    """Execute a recorded stretch of the data as if it were a plan: the controller must follow it
    to its end point, which is the goal."""
    env = make_env("umaze")
    steps = torch.tensor(steps_of(data)[0, :60])
    goal = steps[-1, :2].numpy().astype(float)
    result = execute(env, steps, steps[0, :4].numpy(), goal, "umaze")
    assert result["success"] and np.linalg.norm(result["path"][-1] - goal) < 0.1
    assert result["return"] > 200 and result["score"] > 100 * (200 - 23.85) / (161.86 - 23.85)


@pytest.mark.parametrize("method", ["compose", "inpaint"])
def test_plans_hold_start_goal_and_waypoints_exactly(method):
    norm = Normalizer(mean=(0.5,) * CHANNELS, std=(2.0,) * CHANNELS)
    prior = factorized(trajectory_model(8, width=8, depth=1), trajectory_model(4, width=8, depth=1), 24)
    start, goal, waypoint = np.array([1.0, -1.0, 0.5, 0.0]), np.array([0.0, 1.0]), np.array([2.0, 2.0])
    settings = {"levels": 3, "steps": 1} if method == "compose" else {"levels": 3}
    steps = plan(prior, norm, start, goal, candidates=2, method=method, hold=4, waypoints=[(10, waypoint)],
                 **settings)
    assert steps.shape == (24, CHANNELS)
    f32 = {"dtype": torch.float32}
    torch.testing.assert_close(steps[0, :4], torch.tensor(start, **f32))
    torch.testing.assert_close(steps[10, :2], torch.tensor(waypoint, **f32))
    torch.testing.assert_close(steps[-4:, :2], torch.tensor(goal, **f32).expand(4, 2))
    with pytest.raises(ValueError, match="method must be one of"):
        plan(prior, norm, start, goal, method="guess")
    with pytest.raises(ValueError, match="several goals need method='compose'"):
        plan(prior, norm, start, np.stack([goal, waypoint]), method="inpaint")


def test_maze_commands_train_plan_and_benchmark(tmp_path, monkeypatch, capsys):
    """train-maze -> plan -> bench maze-planning and maze-efficiency, in smoke sizes."""
    from compgen.cli import main
    from compgen.tasks.maze import efficiency, planning
    from compgen.tasks.maze.pointmaze import save_dataset

    save_dataset(tmp_path / "umaze.npz", generate("umaze", episodes=3, episode_steps=64, seed=0,
                                                  progress=False), maze="umaze", seed=0)
    for horizon in (16, 8):
        main(["train-maze", "--data", str(tmp_path), "--horizon", str(horizon), "--steps", "2",
              "--width", "8", "--depth", "1", "--out", str(tmp_path / f"umaze_h{horizon}.safetensors"),
              "--quiet"])
    monkeypatch.setitem(planning.SETTINGS, "compose", {"levels": 2, "steps": 1})
    monkeypatch.setitem(planning.SETTINGS, "inpaint", {"levels": 2})
    main(["plan", "--window", str(tmp_path / "umaze_h16.safetensors"), "--overlap",
          str(tmp_path / "umaze_h8.safetensors"), "--horizon", "48", "--out", str(tmp_path / "p.png")])
    assert "normalized score" in capsys.readouterr().out and (tmp_path / "p.png").stat().st_size > 5000

    monkeypatch.setitem(planning.HORIZONS, "umaze", 48)
    main(["bench", "maze-planning", "--models", str(tmp_path), "--mazes", "umaze", "--pairs", "2",
          "--out", str(tmp_path / "bench"), "--quiet"])
    result = json.loads((tmp_path / "bench" / "maze_planning.json").read_text())
    assert [r["method"] for r in result["summary"]] == list(result["methods"])
    assert all(len(runs) == 2 for runs in result["mazes"]["umaze"]["runs"].values())

    # a rerun keeps the runs of unchanged methods and the entries of mazes it does not rerun,
    # and redoes a method whose settings changed
    import compgen.tasks.maze.planning_bench as planning_bench

    result["mazes"]["medium"] = result["mazes"]["umaze"]  # stands for a maze run earlier
    (tmp_path / "bench" / "maze_planning.json").write_text(json.dumps(result))
    changed = next(iter(planning_bench.METHODS))
    monkeypatch.setitem(planning_bench.METHODS, changed,
                        {**planning_bench.METHODS[changed], "sampler": "ula"})
    main(["bench", "maze-planning", "--models", str(tmp_path), "--mazes", "umaze", "--pairs", "2",
          "--out", str(tmp_path / "bench"), "--quiet"])
    again = json.loads((tmp_path / "bench" / "maze_planning.json").read_text())
    assert list(again["mazes"]) == ["umaze", "medium"]
    assert again["mazes"]["medium"] == result["mazes"]["medium"]
    for name, runs in again["mazes"]["umaze"]["runs"].items():
        before = result["mazes"]["umaze"]["runs"][name]
        assert ([r["seconds"] for r in runs] == [r["seconds"] for r in before]) == (name != changed)

    smoke = {"HELD_OUT": 1, "STARTS": 1, "PER_START": 2, "HORIZON": 16,
             "SAMPLER": {"levels": 2, "steps": 1}}
    for name, value in smoke.items():
        monkeypatch.setattr(efficiency, name, value)
    result = efficiency.run_maze_efficiency(tmp_path / "bench", tmp_path, episodes=(1, 2),
                                            iterations=(1, 2), seeds=(0,), progress=False)
    assert len(result["runs"]) == 2 * 2 * 2 and (tmp_path / "bench" / "maze_efficiency.png").exists()
    # a rerun keeps those runs and trains only the new (episodes, seed)
    more = efficiency.run_maze_efficiency(tmp_path / "bench", tmp_path, episodes=(1, 2),
                                          iterations=(1, 2), seeds=(0, 1), progress=False)
    assert more["runs"][:8] == result["runs"] and len(more["runs"]) == 16
    assert {r["seed"] for r in more["runs"][8:]} == {1}


def test_avoid_factors_repel_from_the_region_and_goal_mixtures_have_one_component_per_goal():
    norm = Normalizer(mean=(0.0,) * CHANNELS, std=(1.0,) * CHANNELS)
    factors = avoid(norm, horizon=3, center=[1.0, 0.0], radius=0.4)
    assert [idx for _, idx, _, _ in factors] == [[0, 1], [6, 7], [12, 13]]
    assert all(w == -10.0 for *_, w in factors) and len({id(m) for m, *_ in factors}) == 1
    graph = FactorGraph(3 * CHANNELS, factors)
    e = []
    for d in (0.0, 0.4, 1.0, 2.0, 4.0):  # distance of step 0 from the centre
        x = torch.zeros(1, 3 * CHANNELS)
        x[0, 0] = 1.0 + d
        e.append(graph.energy(x, 0.0).item())
    assert e[0] > e[1] > e[2] and e[0] - e[2] > 50  # the energy rises toward the region's centre
    assert abs(e[3] - e[4]) < 0.01 * (e[0] - e[2])  # and is flat beyond it
    model, idx, _ = anchor(norm, range(2), np.array([[1.0, 2.0], [3.0, 4.0]]), slice(0, 2))
    assert idx == [0, 1, 6, 7]
    torch.testing.assert_close(model.means, torch.tensor([[1.0, 2.0, 1.0, 2.0], [3.0, 4.0, 3.0, 4.0]]))


def test_free_space_factor_penalizes_wall_cells():
    """Every step gets the same factor; a wall cell's centre sits 2.5-3.5 nats per step below
    the free cells' centres (FREE_STD = 0.35: 4 free neighbours at distance 1 at most)."""
    from compgen.tasks.maze.pointmaze import MazeGrid

    grid = MazeGrid.from_env(make_env("umaze"))
    norm = Normalizer(mean=(0.0,) * CHANNELS, std=(1.0,) * CHANNELS)
    factors = free_space(norm, grid, horizon=2)
    assert [idx for _, idx, _, _ in factors] == [[0, 1], [6, 7]] and factors[0][0] is factors[1][0]
    cells = factors[0][0]
    rows, cols = grid.shape
    wall = [grid.cell_center((i, j)) for i in range(1, rows - 1) for j in range(1, cols - 1)
            if grid.walls[i][j]]
    free = [grid.cell_center(c) for c in grid.free_cells()]
    e_wall = cells.energy(torch.tensor(np.array(wall), dtype=torch.float32), 0.0)
    e_free = cells.energy(torch.tensor(np.array(free), dtype=torch.float32), 0.0)
    gap = e_wall.min() - e_free.max()
    assert 2.5 < gap < 3.5, gap
