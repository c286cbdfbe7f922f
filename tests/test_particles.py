"""Interacting particles: the simulator's physics, factor graphs with per-chain conditions, the
relational potentials' composition, and the benchmark at smoke size."""

import numpy as np
import pytest
import torch

import compgen as cg
from compgen.tasks.particles.bench import AvoidDisc, run_relations
from compgen.tasks.particles.models import RelationalPotentials, constant_velocity, scale
from compgen.tasks.particles.simulate import BOX, simulate


def test_particles_without_relations_move_in_straight_lines_until_a_wall():
    sims = simulate("springs", 200, frames=10, relations=np.zeros((200, 5, 5)), seed=1)
    s = sims.states.astype(np.float64)
    straight = s[:, 0, :, :2] + 9 * 0.1 * s[:, 0, :, 2:]  # 9 frames of 0.1 time units
    free = (np.abs(s[:, :, :, :2]) < BOX - 0.2).all(axis=(1, 2, 3))  # never near a wall
    assert free.sum() > 150
    np.testing.assert_allclose(s[free, -1, :, :2], straight[free], atol=1e-5)


@pytest.mark.parametrize("kind", ["springs", "charged"])
def test_internal_forces_conserve_momentum_and_relations_are_symmetric(kind):
    sims = simulate(kind, 300, frames=15, seed=2)
    r = sims.relations
    assert np.array_equal(r, r.transpose(0, 2, 1)) and (np.diagonal(r, axis1=1, axis2=2) == 0).all()
    assert set(np.unique(r)) <= ({0.0, 1.0} if kind == "springs" else {-1.0, 0.0, 1.0})
    free = (np.abs(sims.states[..., :2]) < BOX - 0.2).all(axis=(1, 2, 3))
    momentum = sims.states[free][..., 2:].sum(2)  # (n, T, 2), equal masses
    # charged: forces are clipped per particle at close approach, which breaks the symmetry there
    tol = 1e-4 if kind == "springs" else 5e-2
    assert np.abs(momentum - momentum[:, :1]).max(axis=(1, 2)).mean() < tol


def test_a_factor_graph_takes_one_condition_per_chain():
    class Linear(cg.Component):
        dim, batches_conditions = 2, True

        def energy(self, x, t=0.0, cond=None):
            return (x * cond).sum(-1)

    b = 3
    x = torch.randn(b, 4)
    c1, c2 = torch.randn(b, 2), torch.randn(b, 2)
    m = Linear()
    g = cg.FactorGraph(4, [(m, [0, 1], c1), (m, [2, 3], c2)], per_chain_conditions=True)
    want = (x[:, :2] * c1).sum(-1) + (x[:, 2:] * c2).sum(-1)
    torch.testing.assert_close(g.energy(x), want)
    _, score = g.energy_and_score(x)
    torch.testing.assert_close(score, -torch.cat([c1, c2], -1))
    with pytest.raises(ValueError, match="per-chain conditions are for 3 chains, x has 2"):
        g.energy(x[:2])


def test_relational_energy_is_the_sum_of_its_factors_with_its_minimum_at_the_learned_dynamics():
    torch.manual_seed(0)
    model = RelationalPotentials(observed=6, frames=4, hidden=16, descent_steps=200).eval()
    sims = simulate("springs", 8, frames=10, seed=3)
    x = scale(torch.from_numpy(sims.states), 1.0)
    obs = x[:, :6]
    graph = model.composition(obs)
    assert graph.num_factors == 20 + 5
    u = 0.1 * torch.randn(8, graph.dim)
    by_hand = sum(m.energy(u[:, idx], cond=c) for m, idx, c in model.factors(obs))
    torch.testing.assert_close(graph.energy(u), by_hand)
    # one edge fewer: the energy loses exactly that edge's term
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j and (i, j) != (0, 1)]
    fewer = model.composition(obs, model.factors(obs, pairs=pairs))
    edge, idx, c = model.factors(obs, pairs=[(0, 1)])[0]
    torch.testing.assert_close(fewer.energy(u), graph.energy(u) - edge.energy(u[:, idx], cond=c))
    # the learned dynamics is where every factor's energy is 0, so plain descent from u = 0
    # (constant velocity) converges to it
    states, u_min = model.dynamics(obs)
    assert graph.energy(u_min).abs().max() < 1e-10
    torch.testing.assert_close(model.trajectory(obs, u_min), states)
    cv = constant_velocity(obs, 4, 1.0)
    torch.testing.assert_close(model.trajectory(obs, torch.zeros_like(u)), cv)
    v = torch.zeros_like(u, requires_grad=True)
    for _ in range(300):
        (g,) = torch.autograd.grad(graph.energy(v).sum(), v)
        v = (v - 0.5 * g).detach().requires_grad_(True)
    torch.testing.assert_close(model.trajectory(obs, v.detach()), states, atol=1e-5, rtol=0)
    # and the same without the edge (0, 1)
    torch.testing.assert_close(model.forecast(obs, pairs=pairs), model.dynamics(obs, pairs=pairs)[0])
    assert graph.energy(model.dynamics(obs, pairs=pairs)[1]).min() > 0

    # an analytic factor on particle 0's trajectory: the forecast leaves the disc
    centre = states[:, 2, 0, :2]
    disc = AvoidDisc(4, radius=0.05, strength=1e3)

    def inside(f):
        return ((f[:, :, 0, :2] - centre[:, None]).norm(dim=-1) < 0.05).sum()

    avoided = model.forecast(obs, extra=[model.trajectory_factor(obs, 0, disc, centre)])
    assert inside(states) >= 8 and inside(avoided) < inside(states)
    with pytest.raises(ValueError, match="expected a component over a 4-frame trajectory"):
        model.trajectory_factor(obs, 0, AvoidDisc(5, 0.05, 1.0), centre)


def test_an_edge_of_the_none_type_is_an_edge_removed():
    torch.manual_seed(0)
    model = RelationalPotentials(observed=6, frames=4, hidden=16, none_type=True).eval()
    torch.nn.init.normal_(model.edge_force[-1].weight)  # a force that is not 0 already
    obs = scale(torch.from_numpy(simulate("springs", 3, frames=6, seed=2).states), 1.0)
    z = model.latents(obs)
    z[:, 0, 1] = z[:, 1, 0] = torch.tensor([1.0, 0.0])  # pair (0, 1): type 0, "no relation"
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j and {i, j} != {0, 1}]
    torch.testing.assert_close(model.forecast(obs, latents=z), model.forecast(obs, latents=z, pairs=pairs))
    other = RelationalPotentials(observed=6, frames=4, hidden=16, none_type=False).eval()
    other.load_state_dict(model.state_dict())
    assert (other.forecast(obs, latents=z) - other.forecast(obs, latents=z, pairs=pairs)).abs().max() > 1e-4


def test_teacher_forced_loss_is_zero_for_forces_that_explain_the_data():
    """Free particles (no relations, away from walls) change velocity by 0 each frame: forces
    fixed at 0 have zero loss, and their dynamics is constant velocity."""
    model = RelationalPotentials(observed=6, frames=4, hidden=8)
    for net in (model.edge_force, model.particle_force):
        for param in net.parameters():
            param.data.zero_()
    start = np.tile(np.array([[0.0, 0.0, 0.1, 0.0]]), (4, 5, 1)) + np.arange(5)[None, :, None] * 0.1
    sims = simulate("springs", 4, frames=10, seed=1, relations=np.zeros((4, 5, 5)), initial=start)
    x = scale(torch.from_numpy(sims.states), 1.0)
    assert model.loss(x[:, :6], x[:, 6:]).item() < 1e-12
    torch.testing.assert_close(model.forecast(x[:, :6]), constant_velocity(x[:, :6], 4, 1.0))


@pytest.mark.parametrize("particles", [5, 7])
def test_inferred_edge_types_are_the_types_that_generated_the_frames(particles):
    """Frames rolled out by the model's own forces under known edge types: the search on the
    factors' energy of those frames (from the untrained encoder's guess and from the relaxed
    least-squares solution) finds them (the energy is 0 there and only there, when each type's
    force differs)."""
    torch.manual_seed(0)
    model = RelationalPotentials(observed=21, frames=20, hidden=16, none_type=True).eval()
    torch.nn.init.normal_(model.edge_force[-1].weight, std=0.3)  # none_type starts it at 0
    sims = simulate("springs", 64, particles=particles, frames=21, seed=5)
    start = scale(torch.from_numpy(sims.states), 2.0)
    upper = torch.rand(64, particles, particles).triu(1) > 0.5
    truth = (upper | upper.transpose(1, 2)).long()  # (64, P, P) symmetric types; the diagonal unused
    with torch.no_grad():
        states, _ = model.dynamics(start, torch.nn.functional.one_hot(truth, 2).float())
        frames = torch.cat([start[:, -1:], states], 1)  # 21 frames of the model's own dynamics
        encoder_guess = model.latents(frames).argmax(-1)
        inferred = model.infer_latents(frames).argmax(-1)
    off = ~torch.eye(particles, dtype=torch.bool)
    assert (encoder_guess != truth)[:, off].float().mean() > 0.2  # the search has work to do
    assert torch.equal(inferred[:, off], truth[:, off])


def test_a_state_limit_shows_the_forces_only_states_within_it():
    torch.manual_seed(0)
    clamped = RelationalPotentials(observed=4, frames=3, hidden=16, state_limit=1.0)
    free = RelationalPotentials(observed=4, frames=3, hidden=16)
    free.load_state_dict(clamped.state_dict())
    states, types = 3 * torch.randn(500, 4), torch.softmax(torch.randn(500, 2), -1)
    inside = states.abs().amax(-1) < 1  # own states within the limit: forces unchanged
    torch.testing.assert_close(clamped.own_force(states[inside]), free.own_force(states[inside]))
    torch.testing.assert_close(clamped.own_force(states), free.own_force(states.clamp(-1, 1)))
    torch.testing.assert_close(clamped.pair_force(states, types), free.pair_force(states.clamp(-2, 2), types))
    assert not torch.allclose(clamped.own_force(states), free.own_force(states))


def test_the_relations_benchmark_runs_at_smoke_size(tmp_path):
    result = run_relations(tmp_path, "springs", train_sims=100, test_sims=40, seconds=2, progress=False)
    assert set(result["forecast_mse"]) == {"constant_velocity", "relational", "relational_encoder_only",
                                           "monolithic"}
    assert result["training"]["relational"]["steps"] > 0 and 0.5 <= result["relation_accuracy"] <= 1
    assert set(result["more_particles_step_20"]) == {"5", "6", "7", "8"}
    assert (tmp_path / "relations_springs.png").is_file() and "relation recovery" in result["table"]


def test_relation_accuracy_matches_types_to_relations_whatever_their_order():
    from compgen.tasks.particles.bench import relation_accuracy

    rel = torch.from_numpy(simulate("springs", 50, frames=1, seed=4).relations)
    onehot = torch.nn.functional.one_hot((rel > 0).long(), 2).float()
    assert relation_accuracy(onehot, rel) == 1.0
    assert relation_accuracy(onehot.flip(-1), rel) == 1.0  # type 0 may mean "spring"
    off = ~torch.eye(5, dtype=torch.bool)
    wrong = onehot.clone()
    wrong[:10, 0, 1] = wrong[:10, 0, 1].flip(-1)  # 10 of the 50 * 20 directed edges mislabeled
    assert relation_accuracy(wrong, rel) == pytest.approx(1 - 10 / (50 * off.sum().item()))


def test_the_data_efficiency_benchmark_runs_at_smoke_size(tmp_path):
    from compgen.tasks.particles.bench import run_data_efficiency

    result = run_data_efficiency(tmp_path, sizes=(20, 40), seeds=(0, 1), seconds=0.5, test_sims=10,
                                 progress=False)
    assert set(result["mse_step_20"]["monolithic"]) == {"20", "40"}
    assert len(result["mse_step_20"]["relational"]["40"]["runs"]) == 2
    assert (tmp_path / "relations_data_springs.png").is_file()
