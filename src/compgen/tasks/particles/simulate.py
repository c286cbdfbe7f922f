"""Interacting particles in a box, as in NRI (Kipf et al. 2018): "springs" (a random spring or
none between each pair) and "charged" (random charges +-1, softened Coulomb forces).

Vectorized over simulations with NumPy: 10,000 simulations of 69 frames take seconds. A frame
is 0.1 time units as in NRI, integrated in 10 semi-implicit Euler steps of dt = 0.01 (NRI: 100
of 0.001; the fastest spring oscillation, period about 9 time units, is still resolved by 900
steps). The relation graph is kept for evaluation only; models never see it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("springs", "charged")
BOX = 5.0
DT, STEPS_PER_FRAME = 0.01, 10
FRAMES_OBSERVED, FRAMES_PREDICTED = 49, 20  # as NIIP
SOFTENING = 0.3  # charged: the largest force is 0.385 / SOFTENING^2 = 4.3, which dt resolves


@dataclass(frozen=True)
class Simulations:
    """Trajectories and the relations that made them.

    Attributes:
        states: (N, T, P, 4) positions (x, y) and velocities (vx, vy) of P particles, T frames.
        relations: (N, P, P) symmetric: springs 1 / 0 (spring or none), charged +1 / -1
            (q_i q_j: repel or attract); the diagonal is 0.
        kind: "springs" or "charged".
    """

    states: np.ndarray
    relations: np.ndarray
    kind: str

    def __len__(self) -> int:
        return len(self.states)


def simulate(kind: str, n: int, particles: int = 5, frames: int = FRAMES_OBSERVED + FRAMES_PREDICTED,
             seed: int = 0, relations: np.ndarray | None = None, initial: np.ndarray | None = None
             ) -> Simulations:
    """Simulate ``n`` systems of ``particles`` balls for ``frames`` frames.

    Args:
        relations: (n, P, P) relations to use instead of random ones (e.g. A with one pair's
            relation changed, for the swap test).
        initial: (n, P, 4) starting states instead of random ones.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if n < 1 or particles < 2 or frames < 1:
        raise ValueError(f"simulate: need n >= 1, particles >= 2, frames >= 1; "
                         f"got {n}, {particles}, {frames}")
    rng = np.random.default_rng(seed)
    p = particles
    if relations is None:
        upper = np.triu(np.ones((p, p), bool), 1)
        if kind == "springs":
            pairs = rng.random((n, p, p)) < 0.5
            relations = np.where(upper, pairs, 0).astype(np.float64)
            relations = relations + relations.transpose(0, 2, 1)
        else:
            charges = np.where(rng.random((n, p)) < 0.5, -1.0, 1.0)
            relations = charges[:, :, None] * charges[:, None, :] * (1 - np.eye(p))
    elif relations.shape != (n, p, p):
        raise ValueError(f"simulate: relations must have shape ({n}, {p}, {p}), got {relations.shape}")
    if initial is None:
        pos = rng.normal(0, 0.5, (n, p, 2))
        vel = rng.normal(0, 1, (n, p, 2))
        vel = 0.5 * vel / np.linalg.norm(vel, axis=-1, keepdims=True)
    else:
        pos, vel = initial[..., :2].astype(np.float64).copy(), initial[..., 2:].astype(np.float64).copy()
    states = np.empty((n, frames, p, 4), np.float32)
    # springs: the force is -0.1 L x with L the graph Laplacian, one batched matmul per step
    laplacian = -0.1 * (np.eye(p) * relations.sum(-1)[:, :, None] - relations)
    for frame in range(frames):
        states[:, frame, :, :2], states[:, frame, :, 2:] = pos, vel
        for _ in range(STEPS_PER_FRAME):
            force = laplacian @ pos if kind == "springs" else _coulomb(pos, relations)
            vel = vel + DT * force
            pos = pos + DT * vel
            # elastic walls: reflect what crossed, turn its velocity
            over, under = pos > BOX, pos < -BOX
            pos = np.where(over, 2 * BOX - pos, np.where(under, -2 * BOX - pos, pos))
            vel = np.where(over | under, -vel, vel)
    return Simulations(states, relations.astype(np.float32), kind)


def _coulomb(pos: np.ndarray, relations: np.ndarray) -> np.ndarray:
    """Softened Coulomb forces, ``q_i q_j (x_i - x_j) / (r^2 + SOFTENING^2)^1.5``: pairwise
    antisymmetric (momentum is conserved) and bounded at close approach, where NRI clips."""
    diff = pos[:, :, None, :] - pos[:, None, :, :]  # (n, P, P, 2): x_i - x_j
    r2 = (diff ** 2).sum(-1, keepdims=True) + SOFTENING ** 2
    return (relations[..., None] * diff / r2 ** 1.5).sum(2)  # like charges repel
