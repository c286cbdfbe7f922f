"""Planning as composition: q(tau) ∝ p_traj(tau) * r(tau; start, goal), with no goal-conditioned
training. The start state and the goal position over the plan's last HOLD steps are clamped
(:class:`compgen.algebra.Clamped`: the product conditioned on them) and the annealed samplers
run on the free coordinates. Sharp Gaussian start/goal factors were tried first: exactly
noised, the goal entered only at the last levels and plans ended about a cell short; kept sharp
at every level, they forced every MALA step to their width and the rest of the plan never left
its initial noise. More tasks are more factors: a waypoint (clamped at a middle step), a region
to avoid (:func:`avoid`, an inverted factor), several goals (a mixture of soft goal factors).
Plans are executed in the real simulator by a tracking controller that aims at the next
planned state (as Diffuser did).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.compose import Clamped
from compgen.algebra.factor_graph import FactorGraph
from compgen.models.gaussian_mixture import GaussianMixture
from compgen.samplers import sample
from compgen.samplers.reverse import denoise
from compgen.tasks.maze.pointmaze import D4RL_REFERENCE_RETURNS, EPISODE_LIMIT, MazeGrid
from compgen.tasks.maze.trajectories import CHANNELS, Normalizer

GOAL_RADIUS = 0.5  # success: within 0.5 of the goal (D4RL's sparse reward)
GOAL_STD = 0.05  # soft goal factors (several goals), in normalized units
FREE_STD = 0.35  # free-space factor: a wall cell's centre is about 3 nats per step below a free cell's
HOLD = 32  # the goal covers the plan's last HOLD steps: arrive, then stay
# long enough to cross each maze at the data's speed (about 0.04 per step, 22 steps per cell;
# the longest shortest paths are 6 / 11 / 19 cells), plus the HOLD steps at the goal
HORIZONS = {"umaze": 192, "medium": 320, "large": 512}
SETTINGS = {"compose": {"levels": 30, "steps": 8}, "inpaint": {"levels": 100}}  # sampler defaults


def pinned(normalizer: Normalizer, steps, value, channels: slice) -> tuple[list[int], Tensor]:
    """Flat indices of ``channels`` at each of ``steps``, and ``value`` ((C,) or (K, C) in
    simulator units) normalized and repeated to match: (len(idx),) or (K, len(idx))."""
    value = (torch.as_tensor(value, dtype=torch.float32) - torch.tensor(normalizer.mean)[channels]) \
        / normalizer.scale(channels)
    idx = [t * CHANNELS + c for t in steps for c in range(CHANNELS)[channels]]
    return idx, value.repeat(*[1] * (value.dim() - 1), len(steps))


def anchor(normalizer: Normalizer, steps, value, channels: slice, std: float = GOAL_STD) -> tuple:
    """A soft factor holding ``channels`` at each of ``steps`` near ``value`` (simulator units),
    ``std`` in normalized units: ``(GaussianMixture, indices, None)`` for a FactorGraph. A
    (K, C) ``value`` gives a mixture: near any one of the K values (e.g. one of several goals)."""
    idx, mean = pinned(normalizer, steps, value, channels)
    return GaussianMixture(mean.reshape(-1, len(idx)), std, name=f"anchor@{steps[0]}"), idx, None


def avoid(normalizer: Normalizer, horizon: int, center, radius: float, strength: float = 10.0
          ) -> list[tuple]:
    """Factors dividing every step's position by a bump at ``center`` (simulator units): NOT,
    p / bump^strength. The bump is an equal mixture of a Gaussian of std ``radius / 2`` and a
    nearly flat one (std 100 ``radius``), so the repulsion ends about 2.5 radii out instead of
    pushing the whole plan away (the inverse of a lone Gaussian grows without bound)."""
    _, c = pinned(normalizer, [0], center, slice(0, 2))
    r = radius / normalizer.scale(slice(0, 2))
    bump = GaussianMixture(torch.stack([c, c]), torch.stack([r / 2, 100 * r]), name="avoid")
    return [(bump, [t * CHANNELS, t * CHANNELS + 1], None, -strength) for t in range(horizon)]


def free_space(normalizer: Normalizer, grid: MazeGrid, horizon: int, std: float = FREE_STD,
               strength: float = 1.0) -> list[tuple]:
    """Factors keeping every step's position in free cells: an equal mixture of Gaussians of
    std ``std`` (simulator units) at the free cell centres, raised to ``strength``. It is AND
    "not in a wall", from the map, not learned. A product with a positive density rather than
    dividing by wall bumps: noised, the bumps' inverse pushes every position away from the
    maze's centre at high noise and plans never form (4 medium plans: noise, 89% in walls)."""
    centers = np.array([grid.cell_center(c) for c in grid.free_cells()])
    _, c = pinned(normalizer, [0], centers, slice(0, 2))  # (K, 2)
    s = std / normalizer.scale(slice(0, 2))
    cells = GaussianMixture(c, s.expand(len(c), 2), name="free_space")
    return [(cells, [t * CHANNELS, t * CHANNELS + 1], None, strength) for t in range(horizon)]


def plan(prior: FactorGraph, normalizer: Normalizer, start: np.ndarray, goal: np.ndarray,
         candidates: int = 2, method: str = "compose", sampler: str = "mala", seed: int = 0,
         hold: int = HOLD, waypoints: list[tuple[int, np.ndarray]] = (), extra: list[tuple] = (),
         **settings) -> Tensor:
    """Sample ``candidates`` plans; returns the lowest-energy one, (T, CHANNELS) in simulator units.

    Args:
        start: (x, y, vx, vy) of step 0, clamped.
        goal: (x, y), clamped over the last ``hold`` steps; or (K, 2): reach any one of K, a
            mixture of soft goal factors over those steps (method "compose" only).
        waypoints: (step, (x, y)) positions to clamp.
        extra: more factors for the product (e.g. :func:`avoid`; method "compose" only).
        method: "compose" runs the annealed ``sampler`` on the product conditioned on the
            clamped coordinates; "inpaint" runs reverse diffusion on the prior, overwriting them
            after every step (Diffuser's conditioning).
        settings: override ``SETTINGS[method]``.

    Plans are denoised at the last level (its sigma is most of a step) with the clamped
    coordinates kept.
    """
    if method not in SETTINGS:
        raise ValueError(f"plan: method must be one of {sorted(SETTINGS)}, got {method!r}")
    goals = np.reshape(goal, (-1, 2))
    if method == "inpaint" and (extra or len(goals) > 1):
        raise ValueError("plan: inpainting can only pin states; extra factors and several goals "
                         "need method='compose'")
    settings = {**SETTINGS[method], **settings}
    horizon = prior.dim // CHANNELS
    last = range(horizon - hold, horizon)
    pins = [pinned(normalizer, [0], start, slice(0, 4))]
    pins += [pinned(normalizer, [step], xy, slice(0, 2)) for step, xy in waypoints]
    factors = list(extra)
    if len(goals) == 1:
        pins.append(pinned(normalizer, last, goals[0], slice(0, 2)))
    else:
        factors.append(anchor(normalizer, last, goals, slice(0, 2)))
    indices, values = [i for idx, _ in pins for i in idx], torch.cat([v for _, v in pins])
    graph = prior.extended(factors, name=f"plan{horizon}")
    generator = torch.Generator().manual_seed(seed)
    if method == "compose":
        x, t = sample_given(graph, indices, values, candidates, sampler, generator, **settings)
    else:
        result = sample(prior, candidates, "reverse", generator=generator, known=(indices, values),
                        **settings)
        t = result.levels[-1].item()
        x = _denoise_free(graph.clamp(indices, values), result.x, t)
    with torch.no_grad():
        best = graph.energy(x, t).argmin()
    return normalizer.decode(x[best])


def sample_given(graph: FactorGraph, indices: list[int], values: Tensor, n: int, sampler: str = "mala",
                 generator: torch.Generator | None = None, **settings) -> tuple[Tensor, float]:
    """``n`` samples of ``graph`` given ``x[indices] = values``: the annealed ``sampler`` on the
    free coordinates, denoised at the last level. Returns (n, D) and that level."""
    conditioned = graph.clamp(indices, values)
    result = sample(conditioned, n, sampler, generator=generator, **settings)
    t = result.levels[-1].item()
    return _denoise_free(conditioned, conditioned.full(result.x), t), t


def _denoise_free(conditioned: Clamped, x: Tensor, t: float) -> Tensor:
    """Tweedie's estimate of the free coordinates of full points x (B, D); the known ones keep
    their values."""
    return conditioned.full(denoise(conditioned, x[:, conditioned.free], t))


def start_state(grid: MazeGrid, cell: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A start (x, y, vx, vy): uniform within 0.25 of the cell centre, at rest (as the env resets)."""
    return np.r_[grid.cell_center(cell) + rng.uniform(-0.25, 0.25, 2), 0.0, 0.0]


def execute(env, plan_steps: Tensor, start: np.ndarray, goal: np.ndarray, maze: str,
            gain: float = 10.0) -> dict:
    """Run a plan in the simulator from ``start`` (x, y, vx, vy) with a tracking controller (PD
    toward the next planned state; after the plan's end, toward the goal nearest the plan's
    end) for the maze's episode limit. ``goal``: (2,), or (K, 2) when any one will do. Returns
    success, the D4RL sparse return (steps within GOAL_RADIUS of a goal), its normalized score,
    and the path (limit, 2)."""
    limit = EPISODE_LIMIT[maze]
    env.reset(seed=0)
    env.point_env.set_state(np.asarray(start[:2], float), np.asarray(start[2:4], float))
    state, path, ret = np.asarray(start, float), [], 0
    planned = plan_steps.detach().double().numpy()
    goals = np.reshape(goal, (-1, 2))
    final = np.r_[goals[np.linalg.norm(goals - planned[-1, :2], axis=1).argmin()], 0.0, 0.0]
    for t in range(limit):
        target = planned[t + 1] if t + 1 < len(planned) else final
        action = np.clip(gain * (target[:2] - state[:2]) + (target[2:4] - state[2:4]), -1, 1)
        state = env.point_env.step(action)[0]
        path.append(state[:2].copy())
        ret += int(np.linalg.norm(goals - state[:2], axis=1).min() <= GOAL_RADIUS)
    low, high = D4RL_REFERENCE_RETURNS[maze]
    return {"success": bool(ret > 0), "return": ret, "score": 100 * (ret - low) / (high - low),
            "path": np.array(path)}
