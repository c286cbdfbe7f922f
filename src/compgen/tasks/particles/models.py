"""Relational potentials (after NIIP, Comas et al. 2023) and the baselines they are measured against.

:class:`RelationalPotentials`: a graph encoder maps the observed frames to one latent per directed
edge, a soft choice among a few edge types (as NRI's, Kipf et al. 2018: Gumbel-softmax while
training, so the choice becomes near-discrete); each edge latent conditions one energy over the
pair's future trajectories
(:class:`EdgeEnergy`); the system's future energy is their sum, a :class:`compgen.FactorGraph`
of edge factors. A forecast descends that composition from the constant-velocity guess, so any
edge factor can be dropped, given another system's latent, raised to a power, or joined by an
analytic factor (an area to avoid) at test time. Trained on forecast error through the unrolled
descent.

Everything lives in scaled units: positions / BOX and velocities / ``speed`` (about [-1, 1]).
A trajectory tensor is (B, T, P, 4); the composition's x is (B, P * T * 4), particle-major.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from compgen.algebra.component import Component
from compgen.algebra.factor_graph import FactorGraph
from compgen.models.registry import Checkpointable
from compgen.tasks.particles.simulate import BOX, DT, STEPS_PER_FRAME

FRAME_TIME = DT * STEPS_PER_FRAME


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


def scale(states: Tensor, speed: float) -> Tensor:
    """Physical (..., 4) states -> scaled ones."""
    return states / torch.tensor([BOX, BOX, speed, speed], dtype=states.dtype)


def constant_velocity(observed: Tensor, frames: int, speed: float) -> Tensor:
    """(B, T_obs, P, 4) scaled -> (B, frames, P, 4): the last velocity held, no walls."""
    last = observed[:, -1]
    k = torch.arange(1, frames + 1, dtype=observed.dtype)[None, :, None, None]
    pos = last[:, None, :, :2] + k * FRAME_TIME * last[:, None, :, 2:] * speed / BOX
    return torch.cat([pos, last[:, None, :, 2:].expand_as(pos)], -1)


class EdgeEnergy(Checkpointable, Component, nn.Module):
    """E(future of i, future of j | z_ij, last observed states of i and j), over 2 * T * 4 values.

    x: (B, 2 * T * 4), particle i's (T, 4) frames then j's; cond: (B, latent + 8), the edge's
    type probabilities and the two last states. Noise-free
    (t is ignored): the energy a forecast descends.
    """

    batches_conditions = True

    def __init__(self, frames: int, latent: int = 2, hidden: int = 256, name: str = "edge_energy"):
        super().__init__()
        self.frames, self.latent, self.name = frames, latent, name
        self.dim = 2 * frames * 4
        # inputs: both futures, their difference (relative motion is what a pair potential sees)
        self.net = mlp([3 * frames * 4 + latent + 8, hidden, hidden, 1])

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Tensor | None = None) -> Tensor:
        xi, xj = x[:, : self.dim // 2], x[:, self.dim // 2:]
        return self.net(torch.cat([xi, xj, xi - xj, cond], -1)).squeeze(-1)

    def __repr__(self) -> str:
        return self.name


class EdgeEncoder(nn.Module):
    """NRI-style node -> edge -> node -> edge message passing over the observed frames:
    (B, T_obs, P, 4) -> (B, P, P, types), edge-type logits per directed edge (diagonal unused)."""

    def __init__(self, observed: int, latent: int = 2, hidden: int = 128):
        super().__init__()
        self.node = mlp([observed * 4, hidden, hidden])
        self.edge = mlp([2 * hidden, hidden, hidden])
        self.node2 = mlp([hidden, hidden, hidden])
        self.out = mlp([3 * hidden, hidden, latent])

    def forward(self, observed: Tensor) -> Tensor:
        b, _, p, _ = observed.shape
        h = self.node(observed.permute(0, 2, 1, 3).reshape(b, p, -1))  # (B, P, H)

        def pair(v: Tensor) -> Tensor:  # (B, P, H) -> (B, P, P, 2H): [v_i, v_j]
            return torch.cat([v[:, :, None].expand(-1, -1, p, -1), v[:, None].expand(-1, p, -1, -1)], -1)

        e = self.edge(pair(h))  # (B, P, P, H)
        off = 1 - torch.eye(p)[None, :, :, None]
        h2 = self.node2((e * off).sum(2) / (p - 1))
        return self.out(torch.cat([pair(h2), e], -1))


class RelationalPotentials(Checkpointable, nn.Module):
    """Encoder + shared edge energy; :meth:`composition` builds a system's factor graph and
    :meth:`forecast` descends it."""

    def __init__(self, observed: int = 49, frames: int = 20, edge_types: int = 2, hidden: int = 256,
                 descent_steps: int = 10, speed: float = 1.0, temperature: float = 0.5,
                 name: str = "relational_potentials"):
        super().__init__()
        self.observed, self.frames, self.descent_steps, self.speed, self.name = (
            observed, frames, descent_steps, speed, name)
        self.temperature = temperature
        self.encoder = EdgeEncoder(observed, edge_types)
        self.edge = EdgeEnergy(frames, edge_types, hidden)
        self.log_step = nn.Parameter(torch.tensor(-2.0))

    def latents(self, observed: Tensor) -> Tensor:
        """(B, T_obs, P, 4) scaled -> (B, P, P, types) edge-type probabilities: Gumbel-softmax
        samples in training mode, the softmax at the same temperature in eval mode."""
        logits = self.encoder(observed)
        if self.training:
            u = torch.rand_like(logits).clamp(1e-9, 1 - 1e-9)
            logits = logits - torch.log(-torch.log(u))
        return torch.softmax(logits / self.temperature, -1)

    def edge_factors(self, observed: Tensor, latents: Tensor | None = None,
                     pairs: list[tuple[int, int]] | None = None) -> list[tuple]:
        """FactorGraph factors ``(edge, indices, condition)`` of the directed edges ``pairs``
        (default: all), conditioned on ``latents`` (default: the encoder's)."""
        p = observed.shape[2]
        z = self.latents(observed) if latents is None else latents
        last = observed[:, -1]  # (B, P, 4)
        block = self.frames * 4
        pairs = [(i, j) for i in range(p) for j in range(p) if i != j] if pairs is None else pairs
        return [(self.edge, [*range(i * block, (i + 1) * block), *range(j * block, (j + 1) * block)],
                 torch.cat([z[:, i, j], last[:, i], last[:, j]], -1)) for i, j in pairs]

    def composition(self, observed: Tensor, factors: list[tuple] | None = None) -> FactorGraph:
        """The system's future energy: the sum of its edge energies (or of ``factors``)."""
        p = observed.shape[2]
        return FactorGraph(p * self.frames * 4, self.edge_factors(observed) if factors is None else factors,
                           name="edge_potentials", per_chain_conditions=True)

    def forecast(self, observed: Tensor, graph: Component | None = None,
                 create_graph: bool = False) -> Tensor:
        """(B, T_obs, P, 4) scaled -> (B, frames, P, 4): descent on ``graph`` (default: the
        system's composition) from the constant-velocity guess."""
        graph = self.composition(observed) if graph is None else graph
        x = to_x(constant_velocity(observed, self.frames, self.speed))
        step = self.log_step.exp()
        with torch.enable_grad():
            x = x.requires_grad_(True)  # the guess carries no gradient of its own
            for _ in range(self.descent_steps):
                (grad,) = torch.autograd.grad(graph.energy(x).sum(), x, create_graph=create_graph)
                x = x - step * grad
                if not create_graph:
                    x = x.detach().requires_grad_(True)
        return from_x(x if create_graph else x.detach(), self.frames, observed.shape[2])

    def __repr__(self) -> str:
        return self.name


def to_x(future: Tensor) -> Tensor:
    """(B, T, P, 4) -> (B, P * T * 4), particle-major (each particle's frames contiguous)."""
    return future.permute(0, 2, 1, 3).reshape(len(future), -1)


def from_x(x: Tensor, frames: int, particles: int) -> Tensor:
    return x.reshape(len(x), particles, frames, 4).permute(0, 2, 1, 3)


class MonolithicPredictor(Checkpointable, nn.Module):
    """The baseline with no factorization: one MLP from all observed frames of all particles to
    the residual of the whole future over constant velocity."""

    def __init__(self, observed: int = 49, frames: int = 20, particles: int = 5, hidden: int = 512,
                 speed: float = 1.0, name: str = "monolithic"):
        super().__init__()
        self.frames, self.particles, self.speed, self.name = frames, particles, speed, name
        self.net = mlp([observed * particles * 4, hidden, hidden, hidden, frames * particles * 4])

    def forecast(self, observed: Tensor) -> Tensor:
        b = len(observed)
        guess = constant_velocity(observed, self.frames, self.speed)
        return guess + self.net(observed.reshape(b, -1)).reshape(guess.shape)

    def __repr__(self) -> str:
        return self.name
