"""Planning as composition: q(tau) ∝ p_traj(tau) * r(tau; start, goal), with no goal-conditioned
training. The start and goal factors are analytic Gaussians on the first state and the last
HOLD positions, so the composed energy is defined at every noise level and the annealed
samplers apply as for any product. They stay sharp at high noise levels (``noise_scale``):
with the exactly noised factors the goal only entered at the last levels, after the plan's
route had formed, and plans ended about a cell short of it. More tasks are more factors: a
waypoint (an anchor at a middle step), a region to avoid (:func:`avoid`, an inverted factor),
several goals (an anchor mixture). Plans are executed in the real simulator by a tracking
controller that aims at the next planned state (as Diffuser did).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.factor_graph import FactorGraph
from compgen.data.pointmaze import D4RL_REFERENCE_RETURNS, EPISODE_LIMIT, MazeGrid
from compgen.models.gaussian_mixture import GaussianMixture
from compgen.samplers import sample
from compgen.samplers.reverse import denoise
from compgen.tasks.maze.trajectories import CHANNELS, Normalizer

GOAL_RADIUS = 0.5  # success: within 0.5 of the goal (D4RL's sparse reward)
PIN_STD = 0.01  # start/goal factor width in normalized units (about 0.01 in position)
PIN_NOISE_SCALE = 0.1  # keeps start/goal sharp at high noise levels, see GaussianMixture
HOLD = 32  # the goal factor covers the plan's last HOLD steps: arrive, then stay
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


def anchor(normalizer: Normalizer, steps, value, channels: slice, std: float = PIN_STD,
           noise_scale: float = PIN_NOISE_SCALE) -> tuple:
    """A factor pinning ``channels`` at each of ``steps`` near ``value`` (simulator units), with
    ``std`` in normalized units: ``(GaussianMixture, indices, None)`` for a FactorGraph. A
    (K, C) ``value`` gives a mixture: near any one of the K values (e.g. one of several goals)."""
    idx, mean = pinned(normalizer, steps, value, channels)
    return GaussianMixture(mean.reshape(-1, len(idx)), std, name=f"anchor@{steps[0]}",
                           noise_scale=noise_scale), idx, None


def avoid(normalizer: Normalizer, horizon: int, center, radius: float, strength: float = 10.0
          ) -> list[tuple]:
    """Factors dividing every step's position by a bump at ``center`` (simulator units): NOT,
    p / bump^strength. The bump is an equal mixture of a Gaussian of std ``radius / 2`` and a
    nearly flat one (std 100 ``radius``), so the repulsion ends about 2.5 radii out instead of
    pushing the whole plan away (the inverse of a lone Gaussian grows without bound)."""
    _, c = pinned(normalizer, [0], center, slice(0, 2))
    r = radius / normalizer.scale(slice(0, 2))
    bump = GaussianMixture(torch.stack([c, c]), torch.stack([r / 2, 100 * r]), name="avoid",
                           noise_scale=PIN_NOISE_SCALE)
    return [(bump, [t * CHANNELS, t * CHANNELS + 1], None, -strength) for t in range(horizon)]


def endpoints(normalizer: Normalizer, horizon: int, start: np.ndarray, goal: np.ndarray,
              hold: int = HOLD) -> list[tuple[list[int], Tensor]]:
    """The start state (x, y, vx, vy) at step 0 and the goal position over the last ``hold``
    steps, each as (indices, values)."""
    return [pinned(normalizer, [0], start, slice(0, 4)),
            pinned(normalizer, range(horizon - hold, horizon), goal, slice(0, 2))]


def planning_graph(prior: FactorGraph, normalizer: Normalizer, start: np.ndarray, goal: np.ndarray,
                   hold: int = HOLD, extra: list[tuple] = ()) -> FactorGraph:
    """The trajectory prior times a start factor, a goal factor (see :func:`endpoints`; a (K, 2)
    ``goal`` means any one of K goals) and ``extra`` factors (waypoints, regions to avoid)."""
    horizon = prior.dim // CHANNELS
    factors = [anchor(normalizer, [0], start, slice(0, 4)),
               anchor(normalizer, range(horizon - hold, horizon), goal, slice(0, 2))]
    return prior.extended(factors + list(extra), name=f"plan{horizon}")


def plan(prior: FactorGraph, normalizer: Normalizer, start: np.ndarray, goal: np.ndarray,
         candidates: int = 2, method: str = "compose", sampler: str = "mala", seed: int = 0,
         hold: int = HOLD, extra: list[tuple] = (), **settings) -> Tensor:
    """Sample ``candidates`` plans from ``start`` (x, y, vx, vy) to ``goal`` (x, y; or (K, 2):
    any one of K) times ``extra`` factors; returns the lowest-energy plan, (T, CHANNELS) in
    simulator units.

    ``method="compose"`` samples the planning graph (prior x start x goal factors) with the
    annealed ``sampler``; ``"inpaint"`` runs reverse diffusion on the prior alone, overwriting
    the start and goal coordinates after every step (Diffuser's conditioning), and ignores
    ``sampler``. ``settings`` override ``SETTINGS[method]``. Plans are denoised at the last
    level (its sigma is most of a step), except the pinned coordinates: Tweedie's step
    overshoots a factor sharper than that sigma."""
    if method not in SETTINGS:
        raise ValueError(f"plan: method must be one of {sorted(SETTINGS)}, got {method!r}")
    if method == "inpaint" and (extra or np.ndim(goal) > 1):
        raise ValueError("plan: inpainting can only pin one start and one goal; extra factors "
                         "and several goals need method='compose'")
    settings = {**SETTINGS[method], **settings}
    graph = planning_graph(prior, normalizer, start, goal, hold, extra)
    generator = torch.Generator().manual_seed(seed)
    known = endpoints(normalizer, prior.dim // CHANNELS, start, np.reshape(goal, (-1, 2))[0], hold)
    indices = [i for idx, _ in known for i in idx]
    if method == "compose":
        result = sample(graph, candidates, sampler, generator=generator, **settings)
    else:
        values = torch.cat([v for _, v in known])
        result = sample(prior, candidates, "reverse", generator=generator, known=(indices, values),
                        **settings)
    t = result.levels[-1].item()
    x = denoise(graph, result.x, t)
    x[:, indices] = result.x[:, indices]
    with torch.no_grad():
        best = graph.energy(x, t).argmin()
    return normalizer.decode(x[best])


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
