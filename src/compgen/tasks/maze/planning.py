"""Planning as composition: q(tau) ∝ p_traj(tau) * r(tau; start, goal), with no goal-conditioned
training. The start and goal factors are analytic Gaussians on the first state and the last
position (exact at every noise level), so the composed energy is defined at every level and
the annealed samplers apply as for any product. Plans are executed in the real simulator by
a tracking controller that aims at the next planned state (as Diffuser did).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.factor_graph import FactorGraph
from compgen.data.pointmaze import D4RL_REFERENCE_RETURNS, EPISODE_LIMIT
from compgen.models.gaussian_mixture import GaussianMixture
from compgen.samplers import sample
from compgen.samplers.reverse import denoise
from compgen.tasks.maze.trajectories import CHANNELS, Normalizer

GOAL_RADIUS = 0.5  # success: within 0.5 of the goal (D4RL's sparse reward)


def anchor(normalizer: Normalizer, step: int, value, channels: slice, std: float) -> tuple:
    """A factor pinning ``channels`` of step ``step`` near ``value`` (simulator units), with
    ``std`` in normalized units: ``(GaussianMixture, indices, None)`` for a FactorGraph."""
    mean = (torch.as_tensor(value, dtype=torch.float32) - torch.tensor(normalizer.mean)[channels]) \
        / normalizer.scale(channels)
    idx = [step * CHANNELS + c for c in range(CHANNELS)[channels]]
    return GaussianMixture(mean[None], std, name=f"anchor@{step}"), idx, None


def planning_graph(prior: FactorGraph, normalizer: Normalizer, start: np.ndarray, goal: np.ndarray,
                   std: float = 0.05) -> FactorGraph:
    """The trajectory prior times a start factor (position and velocity of step 0) and a goal
    factor (position of the last step)."""
    horizon = prior.dim // CHANNELS
    return prior.extended([anchor(normalizer, 0, start, slice(0, 4), std),
                           anchor(normalizer, horizon - 1, goal, slice(0, 2), std)],
                          name=f"plan{horizon}")


def plan(prior: FactorGraph, normalizer: Normalizer, start: np.ndarray, goal: np.ndarray,
         candidates: int = 8, sampler: str = "mala", seed: int = 0, **settings) -> Tensor:
    """Sample ``candidates`` plans; returns the lowest-energy one, (T, CHANNELS) simulator units.
    Plans are denoised at the last level (its sigma is about 0.02 in position, most of a step)."""
    graph = planning_graph(prior, normalizer, start, goal)
    result = sample(graph, candidates, sampler, generator=torch.Generator().manual_seed(seed), **settings)
    t = result.levels[-1].item()
    x = denoise(graph, result.x, t)
    with torch.no_grad():
        best = graph.energy(x, t).argmin()
    return normalizer.decode(x[best])


def execute(env, plan_steps: Tensor, start_cell, goal: np.ndarray, maze: str, seed: int = 0,
            gain: float = 10.0) -> dict:
    """Run a plan in the simulator from ``start_cell`` with a tracking controller (PD toward
    the next planned state; after the plan's end, toward the goal). Returns success, the D4RL
    sparse return (steps within GOAL_RADIUS of the goal), its normalized score, and the path."""
    limit = EPISODE_LIMIT[maze]
    obs, _ = env.reset(seed=seed, options={"reset_cell": np.asarray(start_cell)})
    state, path, ret = obs["observation"], [], 0
    planned = plan_steps.detach().double().numpy()
    for t in range(limit):
        target = planned[t + 1] if t + 1 < len(planned) else np.r_[goal, 0.0, 0.0]
        action = np.clip(gain * (target[:2] - state[:2]) + (target[2:4] - state[2:4]), -1, 1)
        state = env.point_env.step(action)[0]
        path.append(state[:2].copy())
        ret += int(np.linalg.norm(state[:2] - goal) <= GOAL_RADIUS)
    low, high = D4RL_REFERENCE_RETURNS[maze]
    return {"success": bool(ret > 0), "return": ret, "score": 100 * (ret - low) / (high - low),
            "path": np.array(path)}
