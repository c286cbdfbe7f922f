"""Relational potentials (after NIIP, Comas et al. 2023) and the baselines they are measured against.

:class:`RelationalPotentials`: a graph encoder maps the observed frames to one latent per edge, a
soft choice among a few edge types (as NRI's, Kipf et al. 2018: Gumbel-softmax while training,
so the choice becomes near-discrete). The future is described by per-edge variables: ``u[i, j]``,
the (T, 2) velocity change particle j causes on particle i in each frame (``u[i, i]``: what i
does alone, e.g. at a wall); particle i's trajectory is its last observed state rolled forward by
the sum of its row. Each directed edge contributes one energy,

    E_ij(u) = 1/2 sum_t || u[i, j](t) - F(s_i(t-1) - s_j(t-1) | z_ij) ||^2,

a learned pair force F that sees only the pair's relative state and its edge type, and each
particle one of the same form with its own state. The system's energy is their sum, a
:class:`compgen.FactorGraph`; its minimum (energy 0) is the learned dynamics, found exactly by
forward substitution through time; joined by other factors, the composition is descended from
there. So any edge factor can be dropped, given another system's latent, raised to a power, or
joined by an analytic factor on a particle's trajectory (an area to avoid) at test time, and
more particles just mean more edge factors.

Training is maximum likelihood of the factors' Gaussian transitions: the one-frame velocity
changes of the training futures, each predicted from the true state before it (teacher forcing).
At prediction time the same factors choose the edge types, the encoder's guess only a start:
the types under which the observed frames' energy is lowest (:meth:`infer_latents`).

Everything lives in scaled units: positions / BOX and velocities / ``speed`` (about [-1, 1]).
A trajectory tensor is (B, T, P, 4).
"""

from __future__ import annotations

from collections.abc import Callable

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


def rollout(last: Tensor, change: Tensor, c: float) -> Tensor:
    """(n, 4) last states and (n, T, 2) velocity changes per frame -> (n, T, 4) states: velocities
    accumulate the changes, positions move by ``c`` times the frame's mean velocity."""
    v = last[:, None, 2:] + change.cumsum(1)
    before = torch.cat([last[:, None, 2:], v[:, :-1]], 1)
    return torch.cat([last[:, None, :2] + c * ((v + before) / 2).cumsum(1), v], -1)


def _frame_starts(last: Tensor, row: Tensor, c: float) -> Tensor:
    """The state at the start of each frame of a particle whose row of u is ``row``:
    (n, 4), (n, P, T, 2) -> (n, T, 4)."""
    return torch.cat([last[:, None], rollout(last, row.sum(1), c)[:, :-1]], 1)


class EdgeFactor(Component):
    """Edge (i, j)'s energy over particle i's and j's rows of u (each (P, T, 2), the row's own
    edge first): 1/2 sum_t |u[i, j](t) - F(s_i - s_j | z_ij)|^2. cond: (n, 8 + types), the two
    last observed states and the edge type probabilities. The force F(relative, types) is
    shared by every edge and every system size."""

    batches_conditions = True

    def __init__(self, force: Callable[[Tensor, Tensor], Tensor], particles: int, frames: int, c: float):
        self.force, self.particles, self.frames, self.c = force, particles, frames, c
        self.dim = 2 * particles * frames * 2

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Tensor | None = None) -> Tensor:
        n = len(x)
        rows = x.view(n, 2, self.particles, self.frames, 2)
        li, lj, z = cond[:, :4], cond[:, 4:8], cond[:, 8:]
        relative = _frame_starts(li, rows[:, 0], self.c) - _frame_starts(lj, rows[:, 1], self.c)
        f = self.force(relative, z[:, None].expand(-1, self.frames, -1))
        return 0.5 * ((rows[:, 0, 0] - f) ** 2).sum((1, 2))

    def __repr__(self) -> str:
        return "edge_force"


class ParticleFactor(Component):
    """Particle i's own energy over its row of u ((P, T, 2), u[i, i] first): 1/2 sum_t
    |u[i, i](t) - G(s_i)|^2, the change no edge explains (walls). cond: (n, 4), its last state."""

    batches_conditions = True

    def __init__(self, force: Callable[[Tensor], Tensor], particles: int, frames: int, c: float):
        self.force, self.particles, self.frames, self.c = force, particles, frames, c
        self.dim = particles * frames * 2

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Tensor | None = None) -> Tensor:
        row = x.view(len(x), self.particles, self.frames, 2)
        return 0.5 * ((row[:, 0] - self.force(_frame_starts(cond, row, self.c))) ** 2).sum((1, 2))

    def __repr__(self) -> str:
        return "particle_force"


class TrajectoryFactor(Component):
    """Any component over one particle's (T, 4) trajectory (flattened), as a factor over that
    particle's row of u: cond = (n, 4 + c) its last observed state, then the inner condition."""

    batches_conditions = True

    def __init__(self, inner: Component, particles: int, frames: int, c: float):
        if inner.dim != frames * 4:
            raise ValueError(f"inner: expected a component over a {frames}-frame trajectory "
                             f"({frames * 4} values), got one over {inner.dim}")
        self.inner, self.particles, self.frames, self.c = inner, particles, frames, c
        self.dim = particles * frames * 2

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Tensor | None = None) -> Tensor:
        row = x.view(len(x), self.particles, self.frames, 2)
        traj = rollout(cond[:, :4], row.sum(1), self.c)
        return self.inner.energy(traj.reshape(len(x), -1), t, cond[:, 4:] if cond.shape[1] > 4 else None)

    def __repr__(self) -> str:
        return f"on_trajectory({self.inner!r})"


def _best_edge_types(by_type: Tensor, unexplained: Tensor, types: Tensor, sweeps: int
                     ) -> tuple[Tensor, Tensor]:
    """Coordinate descent over symmetric edge types on sum |unexplained - sum_j force_ij|^2:
    by_type (B, T, P, P, K, 2) each pair's force under each type, unexplained (B, T, P, 2) the
    velocity changes less the particle forces, types (B, P, P) the start. -> (types, energy (B,))."""
    b, _, p, _, k, _ = by_type.shape
    types = types.clone()
    residual = unexplained - (by_type * nn.functional.one_hot(types, k)[:, None, :, :, :, None]).sum((3, 4))
    rows = torch.arange(b)
    for _ in range(sweeps):
        changed = False
        for i in range(p):
            for j in range(i + 1, p):
                # i's and j's residuals without this edge, then the cost of each type
                r_i = residual[:, :, i] + by_type[rows, :, i, j, types[:, i, j]]  # (B, T, 2)
                r_j = residual[:, :, j] + by_type[rows, :, j, i, types[:, j, i]]
                cost = (((r_i[:, :, None] - by_type[:, :, i, j]) ** 2).sum((1, 3))
                        + ((r_j[:, :, None] - by_type[:, :, j, i]) ** 2).sum((1, 3)))  # (B, K)
                best = cost.argmin(1)
                changed |= bool((best != types[:, i, j]).any())
                types[:, i, j] = types[:, j, i] = best
                residual[:, :, i] = r_i - by_type[rows, :, i, j, best]
                residual[:, :, j] = r_j - by_type[rows, :, j, i, best]
        if not changed:
            break
    return types, (residual ** 2).sum((1, 2, 3))


def _relaxed_edge_types(by_type: Tensor, unexplained: Tensor) -> Tensor:
    """The same least squares with each pair's type weights real (summing to 1, type 0's
    eliminated), solved exactly and rounded to the largest weight: (B, T, P, P, K, 2),
    (B, T, P, 2) -> (B, P, P) types."""
    b, t, p, _, k, _ = by_type.shape
    pairs = [(i, j) for i in range(p) for j in range(i + 1, p)]
    # the change each (pair, type > 0) makes to its particles' forces, relative to type 0
    columns = by_type.new_zeros(b, t, p, 2, len(pairs), k - 1)
    for n, (i, j) in enumerate(pairs):
        columns[:, :, i, :, n] = (by_type[:, :, i, j, 1:] - by_type[:, :, i, j, :1]).transpose(-1, -2)
        columns[:, :, j, :, n] = (by_type[:, :, j, i, 1:] - by_type[:, :, j, i, :1]).transpose(-1, -2)
    target = unexplained - by_type[:, :, :, :, 0].sum(3)
    w = torch.linalg.lstsq(columns.reshape(b, t * p * 2, -1), target.reshape(b, -1, 1)).solution
    w = w.view(b, len(pairs), k - 1)
    weights = torch.cat([1 - w.sum(-1, keepdim=True), w], -1)  # (B, pairs, K)
    types = torch.zeros(b, p, p, dtype=torch.long)
    i, j = torch.tensor(pairs).T
    types[:, i, j] = types[:, j, i] = weights.argmax(-1)
    return types


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
    """Encoder + shared edge and particle forces. :meth:`composition` builds a system's factor
    graph over u (B, P * P * T * 2); :meth:`forecast` finds its minimum, alone or joined by
    other factors."""

    def __init__(self, observed: int = 49, frames: int = 20, edge_types: int = 2, hidden: int = 64,
                 descent_steps: int = 20, step: float = 0.5, speed: float = 1.0, temperature: float = 0.5,
                 none_type: bool = False, inference_sweeps: int = 5, state_limit: float | None = None,
                 name: str = "relational_potentials"):
        super().__init__()
        self.observed, self.frames, self.descent_steps, self.step, self.speed, self.name = (
            observed, frames, descent_steps, step, speed, name)
        self.temperature, self.none_type, self.inference_sweeps = temperature, none_type, inference_sweeps
        self.state_limit = state_limit
        self.c = FRAME_TIME * speed / BOX  # scaled position change per frame at unit scaled velocity
        self.encoder = EdgeEncoder(observed, edge_types)
        self.edge_force = mlp([4 + edge_types, hidden, hidden, 2])
        if none_type:  # a random force at the start would teach the encoder to close every edge
            nn.init.zeros_(self.edge_force[-1].weight), nn.init.zeros_(self.edge_force[-1].bias)
        self.particle_force = mlp([4, hidden, hidden, 2])

    def latents(self, observed: Tensor) -> Tensor:
        """(B, T_obs, P, 4) scaled -> (B, P, P, types) edge-type probabilities, the same for (i, j)
        and (j, i): Gumbel-softmax samples in training mode, the softmax at the same temperature
        in eval mode."""
        logits = self.encoder(observed)
        logits = (logits + logits.transpose(1, 2)) / 2
        if self.training:
            u = torch.rand_like(logits).clamp(1e-9, 1 - 1e-9)
            logits = logits - torch.log(-torch.log(u))
        return torch.softmax(logits / self.temperature, -1)

    def infer_latents(self, observed: Tensor) -> Tensor:
        """(B, T_obs, P, 4) scaled -> (B, P, P, types): the edge types a forecast uses, one-hot.

        The factors decide, by their energy of the observed frames (each frame's velocity change
        against the forces at the state before it, as in training): each pair's force under
        each type is fixed by the observed states, so the energy is a least-squares problem in
        the pairs' types. Two starts, the encoder's most probable types and the rounded solution
        of the relaxed problem (each pair's type weights real, summing to 1), are each improved
        by coordinate descent (each pair in turn takes its best type given all others, until a
        sweep changes nothing or ``inference_sweeps`` have run); each system keeps the lower.
        The encoder is trained on 5 particles; this works for any number. With
        ``inference_sweeps=0``: the encoder's probabilities (:meth:`latents`)."""
        z = self.latents(observed)
        if self.inference_sweeps == 0:
            return z
        p, k = observed.shape[2], z.shape[-1]
        with torch.no_grad():
            s = observed[:, :-1]  # (B, T - 1, P, 4): each observed change's starting state
            relative = s[:, :, :, None] - s[:, :, None]  # (B, T - 1, P, P, 4): [i, j] = s_i - s_j
            one_type = torch.eye(k)[:, None, None, None, None].expand(-1, *relative.shape[:-1], -1)
            off = (1 - torch.eye(p))[:, :, None]
            # (B, T - 1, P, P, K, 2): each pair's force under each type
            by_type = torch.stack([self.pair_force(relative, c) * off for c in one_type], -2)
            unexplained = observed[:, 1:, :, 2:] - s[..., 2:] - self.own_force(s)  # (B, T - 1, P, 2)
            found = [_best_edge_types(by_type, unexplained, start, self.inference_sweeps)
                     for start in (z.argmax(-1), _relaxed_edge_types(by_type, unexplained))]
            (types, energy), (other, other_energy) = found
            types = torch.where((other_energy < energy)[:, None, None], other, types)
        return nn.functional.one_hot(types, k).to(z.dtype)

    def row(self, particles: int, i: int, first: int) -> list[int]:
        """Indices into u of particle i's row, u[i, first] first, then the rest in order."""
        block = self.frames * 2
        order = [first, *(k for k in range(particles) if k != first)]
        return [(i * particles + k) * block + q for k in order for q in range(block)]

    def factors(self, observed: Tensor, latents: Tensor | None = None,
                pairs: list[tuple[int, int]] | None = None) -> list[tuple]:
        """FactorGraph factors ``(model, indices, condition)``: one per directed edge in ``pairs``
        (default: all), conditioned on ``latents`` (default: :meth:`infer_latents`), and one per
        particle."""
        p = observed.shape[2]
        z = self.infer_latents(observed) if latents is None else latents
        last = observed[:, -1]  # (B, P, 4)
        edge = EdgeFactor(self.pair_force, p, self.frames, self.c)
        alone = ParticleFactor(self.own_force, p, self.frames, self.c)
        pairs = [(i, j) for i in range(p) for j in range(p) if i != j] if pairs is None else pairs
        return [*((edge, self.row(p, i, j) + self.row(p, j, i),
                   torch.cat([last[:, i], last[:, j], z[:, i, j]], -1)) for i, j in pairs),
                *((alone, self.row(p, i, i), last[:, i]) for i in range(p))]

    def trajectory_factor(self, observed: Tensor, particle: int, inner: Component,
                          cond: Tensor | None = None) -> tuple:
        """A factor applying ``inner`` (a component over a (T * 4) trajectory, conditioned per
        system by ``cond`` (B, c)) to ``particle``'s forecast trajectory."""
        p = observed.shape[2]
        last = observed[:, -1, particle]
        return (TrajectoryFactor(inner, p, self.frames, self.c), self.row(p, particle, particle),
                last if cond is None else torch.cat([last, cond], -1))

    def composition(self, observed: Tensor, factors: list[tuple] | None = None) -> FactorGraph:
        """The system's energy over u: the sum of its edge and particle factors (or ``factors``)."""
        p = observed.shape[2]
        return FactorGraph(p * p * self.frames * 2, self.factors(observed) if factors is None else factors,
                           name="relational_potentials", per_chain_conditions=True)

    def trajectory(self, observed: Tensor, u: Tensor) -> Tensor:
        """u (B, P * P * T * 2) -> the (B, T, P, 4) trajectories it describes."""
        b, p = len(u), observed.shape[2]
        change = u.view(b, p, p, self.frames, 2).sum(2).reshape(b * p, self.frames, 2)
        states = rollout(observed[:, -1].reshape(b * p, 4), change, self.c)
        return states.view(b, p, self.frames, 4).transpose(1, 2)

    def forecast(self, observed: Tensor, latents: Tensor | None = None,
                 pairs: list[tuple[int, int]] | None = None, extra: list[tuple] = ()) -> Tensor:
        """(B, T_obs, P, 4) scaled -> (B, frames, P, 4): the minimum of the system's composition
        (edges ``pairs`` with ``latents``, as :meth:`factors`) joined by the ``extra`` factors.

        Without extras the minimum is exact: every learned factor's energy is 0 at the learned
        dynamics (:meth:`dynamics`, a forward substitution through time). Extra factors start
        gradient descent there: ``descent_steps`` steps on the whole graph, each chain's step
        halved whenever it would raise that chain's energy (and grown back by 1.5x after an
        accepted one)."""
        z = self.infer_latents(observed) if latents is None else latents
        states, u = self.dynamics(observed, z, pairs)
        if not extra:
            return states
        graph = self.composition(observed, self.factors(observed, z, pairs) + list(extra))
        step = torch.full((len(u), 1), self.step)
        with torch.enable_grad():
            u = u.detach().requires_grad_(True)
            energy = graph.energy(u)
            (grad,) = torch.autograd.grad(energy.sum(), u)
            for _ in range(self.descent_steps):
                trial = (u - step * grad).detach().requires_grad_(True)
                trial_energy = graph.energy(trial)
                better = (trial_energy < energy)[:, None]
                (trial_grad,) = torch.autograd.grad(trial_energy.sum(), trial)
                u = torch.where(better, trial, u).detach()
                energy = torch.where(better[:, 0], trial_energy, energy).detach()
                grad = torch.where(better, trial_grad, grad)
                step = torch.where(better, step * 1.5, step / 2)
        return self.trajectory(observed, u)

    def pair_force(self, relative: Tensor, types: Tensor) -> Tensor:
        """F(s_i - s_j | z_ij): (..., 4) relative states and (..., types) edge-type probabilities ->
        (..., 2) the velocity change j causes on i in one frame. With ``none_type``, edge type 0
        is "no relation", its force 0 (as NRI's): otherwise every type could carry a common pull
        between all pairs that the particle forces cancel for 5 particles and not for 6."""
        force = self.edge_force(torch.cat([self._within(relative, 2.0), types], -1))
        return force * (1 - types[..., :1]) if self.none_type else force

    def own_force(self, states: Tensor) -> Tensor:
        """G(s_i): (..., 4) states -> (..., 2) the velocity change no edge explains (walls)."""
        return self.particle_force(self._within(states, 1.0))

    def _within(self, states: Tensor, span: float) -> Tensor:
        """States clamped to ``span * state_limit`` per value (relative states span twice the
        range): a force evaluated beyond what training showed extrapolates, and a particle that
        left the box would be pushed further out each frame. None: unclamped."""
        if self.state_limit is None:
            return states
        return states.clamp(-span * self.state_limit, span * self.state_limit)

    def forces(self, states: Tensor, latents: Tensor, pairs: list[tuple[int, int]] | None = None
               ) -> tuple[Tensor, Tensor]:
        """(B, P, 4) states and (B, P, P, types) latents -> (B, P, P, 2) the next frame's
        velocity changes: [i, j] caused on i by j for the edges ``pairs`` (default all, others
        0), [i, i] i's own; and their sum over j, (B, P, 2)."""
        p = states.shape[1]
        present = 1 - torch.eye(p)
        if pairs is not None:
            present = torch.zeros(p, p)
            present[tuple(torch.tensor(pairs).T)] = 1
        relative = states[:, :, None] - states[:, None]  # [i, j] = s_i - s_j
        u = self.pair_force(relative, latents) * present[None, :, :, None]
        u = u + torch.diag_embed(self.own_force(states).transpose(1, 2)).permute(0, 2, 3, 1)
        return u, u.sum(2)

    def dynamics(self, observed: Tensor, latents: Tensor | None = None,
                 pairs: list[tuple[int, int]] | None = None) -> tuple[Tensor, Tensor]:
        """The learned forces rolled out frame by frame: (B, frames, P, 4) trajectories and the
        (B, P * P * T * 2) u where each factor's energy is 0."""
        z = self.infer_latents(observed) if latents is None else latents
        s, states, us = observed[:, -1], [], []
        b, p = s.shape[:2]
        for _ in range(self.frames):
            u, change = self.forces(s, z, pairs)
            s = rollout(s.reshape(b * p, 4), change.reshape(b * p, 1, 2), self.c).view(b, p, 4)
            states.append(s), us.append(u)
        return torch.stack(states, 1), torch.stack(us, 3).reshape(len(s), -1)  # u as (B, P, P, T, 2)

    def loss(self, observed: Tensor, future: Tensor) -> Tensor:
        """Teacher forcing: the MSE of the one-frame velocity changes over the future, each frame
        predicted from the true state before it (the factors' Gaussian likelihood)."""
        z = self.latents(observed)
        states = torch.cat([observed[:, -1:], future], 1)  # (B, T + 1, P, 4)
        b, t, p, _ = future.shape
        _, change = self.forces(states[:, :-1].reshape(b * t, p, 4), z.repeat_interleave(t, 0))
        return ((change.view(b, t, p, 2) - (states[:, 1:, :, 2:] - states[:, :-1, :, 2:])) ** 2).mean()

    def __repr__(self) -> str:
        return self.name


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

    def loss(self, observed: Tensor, future: Tensor) -> Tensor:
        return ((self.forecast(observed) - future) ** 2).mean()

    def __repr__(self) -> str:
        return self.name
