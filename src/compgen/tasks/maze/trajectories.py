"""Trajectory models over (state, action) sequences and their products over time windows.

A trajectory of T steps is stored flat, step-major: step t is ``[x, y, vx, vy, ax, ay]``
(the state before action a_t), normalized per channel by the data set's mean and std.

The factorized model composes a short-window model into a distribution over a long horizon.
With windows of W steps at stride S = W / 2, each overlap of S steps is counted twice, so the
product divides by an overlap model over S steps (a negative-weight factor): the chain rule for
a process that is Markov at a range of S steps,

    p(tau) = p(w_0) p(w_1) ... p(w_K) / (p(o_1) ... p(o_K)),   o_k = w_{k-1} ∩ w_k.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.factor_graph import FactorGraph
from compgen.checkpoint import load
from compgen.models.diffusion import EnergyDiffusion
from compgen.tasks.maze.pointmaze import MazeGrid
from compgen.training import train

CHANNELS = 6  # x, y, vx, vy, ax, ay


@dataclass(frozen=True)
class Normalizer:
    """Per-channel affine map between simulator units and the models' unit-variance scale."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, steps: np.ndarray) -> Normalizer:
        """steps: (..., CHANNELS) array."""
        flat = steps.reshape(-1, CHANNELS)
        return cls(tuple(flat.mean(0).tolist()), tuple(flat.std(0).tolist()))

    def encode(self, steps: np.ndarray | Tensor) -> Tensor:
        """(..., T, CHANNELS) simulator units -> (..., T * CHANNELS) normalized, step-major."""
        steps = torch.as_tensor(steps, dtype=torch.float32)
        z = (steps - torch.tensor(self.mean)) / torch.tensor(self.std)
        return z.flatten(-2)

    def decode(self, z: Tensor) -> Tensor:
        """(..., T * CHANNELS) -> (..., T, CHANNELS) in simulator units."""
        z = z.unflatten(-1, (-1, CHANNELS))
        return z * torch.tensor(self.std) + torch.tensor(self.mean)

    def scale(self, channels: slice) -> Tensor:
        return torch.tensor(self.std)[channels]


def steps_of(data: dict, episodes: int | None = None) -> np.ndarray:
    """(E, T, CHANNELS): states and actions of the first ``episodes`` episodes of a data set."""
    obs, actions = data["observations"][:episodes], data["actions"][:episodes]
    return np.concatenate([obs, actions], axis=-1)


def windows(steps: np.ndarray, length: int, normalizer: Normalizer, stride: int = 1) -> Tensor:
    """All windows of ``length`` consecutive steps within episodes: (N, length * CHANNELS)."""
    if steps.shape[1] < length:
        raise ValueError(f"episodes have {steps.shape[1]} steps, fewer than the window length {length}")
    z = torch.as_tensor(steps, dtype=torch.float32).unfold(1, length, stride)  # (E, n, C, length)
    return normalizer.encode(z.transpose(-1, -2).reshape(-1, length, CHANNELS))


def trajectory_model(horizon: int, width: int = 32, depth: int = 2, name: str | None = None,
                     seed: int = 0) -> EnergyDiffusion:
    """An energy-parameterized temporal U-Net over ``horizon`` steps."""
    return EnergyDiffusion(dim=horizon * CHANNELS, backbone="temporal_unet", channels=CHANNELS,
                           hidden=width, layers=depth, name=name or f"trajectory{horizon}", init_seed=seed)


def train_trajectory_model(steps_data: np.ndarray, horizon: int, normalizer: Normalizer,
                           train_steps: int, depth: int = 2, width: int = 32, seed: int = 0,
                           progress: bool = True, name: str | None = None
                           ) -> tuple[EnergyDiffusion, float]:
    """Train on every ``horizon``-step window of ``steps_data``; returns the model and seconds."""
    model = trajectory_model(horizon, width, depth, name, seed)
    data = windows(steps_data, horizon, normalizer)
    start = time.perf_counter()
    train(model, data, steps=train_steps, batch_size=128, seed=seed, progress=progress)
    return model, time.perf_counter() - start


def factorized(window: EnergyDiffusion, overlap: EnergyDiffusion, horizon: int,
               extra: list[tuple] | None = None) -> FactorGraph:
    """The product of ``window`` models at stride W/2 over ``horizon`` steps, divided by the
    ``overlap`` model (over W/2 steps) on each overlap; ``extra`` factors are appended."""
    w = window.dim // CHANNELS
    s = overlap.dim // CHANNELS
    if 2 * s != w or (horizon - w) % s:
        raise ValueError(f"need overlap = window / 2 and (horizon - window) divisible by it; got "
                         f"window {w}, overlap {s}, horizon {horizon}")

    def span(start: int, length: int) -> list[int]:
        return list(range(start * CHANNELS, (start + length) * CHANNELS))

    starts = range(0, horizon - w + 1, s)
    factors = [(window, span(k, w), None) for k in starts]
    factors += [(overlap, span(k, s), None, -1.0) for k in starts[1:]]
    return FactorGraph(horizon * CHANNELS, factors + list(extra or []), name=f"factorized{horizon}")


def dynamics_error(env, trajectories: Tensor) -> dict[str, float]:
    """How well generated trajectories obey the simulator.

    For every step t of every trajectory (N, T, CHANNELS) in simulator units: reset MuJoCo to the
    generated state s_t, apply the generated action a_t, and compare the simulator's next state
    with the generated s_{t+1}. Returns the mean position and velocity errors, and the fraction
    of generated positions inside a wall cell (walls are solid in the simulator, so any is wrong).
    """
    traj = trajectories.detach().double().numpy()
    point = env.point_env
    pos_err, vel_err = [], []
    for tau in traj:
        for t in range(len(tau) - 1):
            point.set_state(tau[t, :2], tau[t, 2:4])
            nxt = point.step(np.clip(tau[t, 4:], -1, 1))[0]
            pos_err.append(np.linalg.norm(nxt[:2] - tau[t + 1, :2]))
            vel_err.append(np.linalg.norm(nxt[2:] - tau[t + 1, 2:4]))
    in_wall = MazeGrid.from_env(env).in_wall(traj[..., :2])
    return {"position_error": float(np.mean(pos_err)), "velocity_error": float(np.mean(vel_err)),
            "in_wall": float(in_wall.mean())}


def monolithic(model: EnergyDiffusion) -> FactorGraph:
    """One model over the whole horizon, as a one-factor graph (so planning extends it alike)."""
    return FactorGraph(model.dim, [(model, range(model.dim), None)],
                       name=f"monolithic{model.dim // CHANNELS}")


def load_trajectory_models(window: Path, overlap: Path):
    """A window and an overlap checkpoint from ``compgen train-maze`` -> (window, overlap,
    normalizer, maze, training record of each)."""
    records = [json.loads(Path(p).with_suffix(".json").read_text()) for p in (window, overlap)]
    if records[0]["maze"] != records[1]["maze"] or records[0]["normalizer"] != records[1]["normalizer"]:
        raise ValueError(f"{window} and {overlap} were trained on different data "
                         f"({records[0]['maze']} vs {records[1]['maze']})")
    norm = records[0]["normalizer"]
    return (load(window), load(overlap), Normalizer(tuple(norm["mean"]), tuple(norm["std"])),
            records[0]["maze"], records)
