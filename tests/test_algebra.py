"""Composed energies and scores against closed forms."""

import math

import pytest
import torch

import compgen as cg
from compgen.data import toy2d


def gmm_logpdf(x, means, stds, weights, t):
    """Independent closed form of a noised diagonal GMM's log-density, via torch.distributions."""
    alpha, sigma = cg.DEFAULT_SCHEDULE.alpha(torch.tensor(t)), cg.DEFAULT_SCHEDULE.sigma(torch.tensor(t))
    comps = torch.distributions.Independent(
        torch.distributions.Normal(alpha * means, torch.sqrt(alpha**2 * stds**2 + sigma**2)), 1)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(weights), comps)
    return mix.log_prob(x)


@pytest.fixture
def ab():
    a = cg.GaussianMixture(torch.tensor([[0.0, 1.0], [0.0, -1.0]]), 0.3, name="a")
    b = cg.GaussianMixture(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0.5, 0.4]),
                           weights=torch.tensor([0.3, 0.7]), name="b")
    return a, b


@pytest.mark.parametrize("t", [0.0, 0.05, 0.5, 1.0])
def test_gmm_energy_is_exact_noised_density(ab, t, gen):
    a, b = ab
    x = torch.randn(64, 2, generator=gen)
    expected = gmm_logpdf(x, b.means, b.stds, torch.tensor([0.3, 0.7]), t)
    torch.testing.assert_close(-b.energy(x, t), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [0.0, 0.3])
def test_closed_form_score_matches_autograd(ab, t, gen):
    a, b = ab
    x = torch.randn(32, 2, generator=gen).requires_grad_(True)
    (grad,) = torch.autograd.grad(b.energy(x, t).sum(), x)
    torch.testing.assert_close(b.score(x.detach(), t), -grad, rtol=1e-4, atol=1e-5)


def test_composed_energies_and_scores(ab, gen):
    a, b = ab
    x, t = torch.randn(50, 2, generator=gen), 0.2
    la, lb = -a.energy(x, t), -b.energy(x, t)
    torch.testing.assert_close((a & b).energy(x, t), -(la + lb))
    torch.testing.assert_close((a & ~b).energy(x, t), -(la - lb))
    torch.testing.assert_close((a & cg.negate(b, 0.5)).energy(x, t), -(la - 0.5 * lb))
    torch.testing.assert_close((a**0.25).energy(x, t), -0.25 * la)
    mix = -torch.log(0.5 * la.exp() + 0.5 * lb.exp())
    torch.testing.assert_close((a | b).energy(x, t), mix, rtol=1e-5, atol=1e-5)
    weighted = -torch.log(0.2 * la.exp() + 0.8 * lb.exp())
    torch.testing.assert_close(cg.mixture([a, b], [1.0, 4.0]).energy(x, t), weighted, rtol=1e-5, atol=1e-5)
    # scores of every composition equal -grad of its energy
    for q in [a & b, a & ~b, a | b, (a & b) | (a & cg.negate(b, 0.5)), cg.mixture([a, b], [1.0, 4.0]) ** 2]:
        xr = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(q.energy(xr, t).sum(), xr)
        energy, score = q.energy_and_score(x, t)
        torch.testing.assert_close(score, -grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(energy, q.energy(x, t))


def test_mixture_of_normalized_components_is_normalized(ab):
    a, b = ab
    ref = cg.metrics.grid_density(a | b, lo=-5, hi=5, resolution=400)
    assert abs(ref.log_z) < 1e-3  # exp(-E) integrates to one


def test_repr_prints_the_expression():
    h, v, ring = toy2d.bars_h(), toy2d.bars_v(), toy2d.ring()
    assert repr((h & v) | ring) == "(bars_h & bars_v) | ring"
    assert repr(ring & ~h) == "ring & ~bars_h"
    assert repr((h | v) ** 0.5) == "(bars_h | bars_v) ** 0.5"
    assert repr(ring & cg.negate(h, 0.5)) == "ring & negate(bars_h, 0.5)"
    assert repr((h | v) | ring) == "(bars_h | bars_v) | ring"


def test_products_flatten_and_nest(ab):
    a, b = ab
    p = (a & b) & a
    assert isinstance(p, cg.Product) and len(p.components) == 3
    assert p.leaves() == [a, b, a]


def test_score_only_compositions_keep_scores(gen):
    m = cg.ScoreDiffusion(dim=2, name="s")
    a = toy2d.ring()
    q = m & a
    assert not q.has_energy
    x = torch.randn(8, 2, generator=gen)
    torch.testing.assert_close(q.score(x, 0.5), m.score(x, 0.5) + a.score(x, 0.5))
    energy, _ = q.energy_and_score(x, 0.5)
    assert energy is None


def test_energy_model_score_is_minus_grad_energy(gen):
    m = cg.EnergyDiffusion(dim=2)
    x = torch.randn(8, 2, generator=gen).requires_grad_(True)
    (grad,) = torch.autograd.grad(m.energy(x, 0.3).sum(), x)
    torch.testing.assert_close(m.score(x.detach(), 0.3), -grad)
    sigma = cg.DEFAULT_SCHEDULE.sigma(torch.tensor(0.3))
    torch.testing.assert_close(m.predict_noise(x.detach(), 0.3), sigma * grad, rtol=1e-5, atol=1e-6)


def test_conditional_model_given(gen):
    m = cg.EnergyDiffusion(dim=2, num_classes=3, name="m")
    x = torch.randn(5, 2, generator=gen)
    c = m.given(1)
    assert repr(c) == "m.given(1)"
    torch.testing.assert_close(c.energy(x, 0.5), m.energy(x, 0.5, cond=1))
    labels = torch.tensor([1, 1, 1, 1, 1])
    torch.testing.assert_close(c.energy(x, 0.5), m.energy(x, 0.5, cond=labels))
    assert not torch.allclose(m.given(0).energy(x, 0.5), c.energy(x, 0.5))
    v = cg.ScoreDiffusion(dim=2, cond_dim=4)
    assert v.given(torch.ones(4)).score(x, 0.5).shape == (5, 2)


def test_schedule_log_snr_roundtrip():
    s = cg.VPSchedule()
    t = torch.linspace(1e-3, 1, 50, dtype=torch.float64)
    torch.testing.assert_close(s.t_from_log_snr(s.log_snr(t)), t)
    torch.testing.assert_close(s.alpha(t) ** 2 + s.sigma(t) ** 2, torch.ones_like(t))
    ts = s.timesteps(10)
    assert ts[0] == pytest.approx(1.0) and ts[-1] == pytest.approx(1e-3) and torch.all(ts.diff() < 0)
    assert math.isfinite(float(s.log_snr(torch.tensor(1e-3))))


def test_factor_graph_sums_factors_over_subsets_and_batches_each_model():
    """E(x) = g1(x0, x1) + g2(x1, x2) + g1(x2, x0) with exact GMM factors, against autograd of
    the hand-written sum; and a conditional network's factors go through one forward pass."""
    g1 = cg.GaussianMixture(means=torch.tensor([[0.0, 1.0], [1.0, -1.0]]), stds=0.5)
    g2 = cg.GaussianMixture(means=torch.tensor([[0.5, 0.5]]), stds=torch.tensor([[0.3, 0.8]]))
    graph = cg.FactorGraph(3, [(g1, [0, 1], None), (g2, [1, 2], None, -0.5), (g1, [2, 0], None, 2.0)])
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    for t in (0.0, 0.4):  # weights are powers: w * E_f
        expected = (g1.energy(x[:, [0, 1]], t) - 0.5 * g2.energy(x[:, [1, 2]], t)
                    + 2 * g1.energy(x[:, [2, 0]], t))
        (grad,) = torch.autograd.grad(expected.sum(), x)
        energy, score = graph.energy_and_score(x.detach(), t)
        torch.testing.assert_close(energy, expected.detach())
        torch.testing.assert_close(score, -grad)
    assert graph.num_factors == 3 and len(graph.groups) == 2

    net = cg.EnergyDiffusion(dim=2, cond_dim=3, hidden=16)
    calls = []
    net.net.register_forward_hook(lambda *args: calls.append(1))  # the MLP body
    conds = torch.eye(3)
    graph = cg.FactorGraph(3, [(net, [0, 1], conds[0]), (net, [1, 2], conds[1]), (net, [0, 2], conds[2])])
    energy = graph.energy(x.detach(), 0.5)
    assert len(calls) == 1
    expected = sum(net.energy(x.detach()[:, i], 0.5, cond=c.expand(7, 3))
                   for i, c in zip([[0, 1], [1, 2], [0, 2]], conds, strict=True))
    torch.testing.assert_close(energy, expected.detach(), rtol=1e-5, atol=1e-5)


def test_factor_graph_errors():
    g = cg.GaussianMixture(means=torch.zeros(1, 2), stds=1.0)
    with pytest.raises(ValueError, match=r"factors\[0\]: .* is over 2 variables, got 3 indices"):
        cg.FactorGraph(3, [(g, [0, 1, 2], None)])
    with pytest.raises(ValueError, match=r"factors\[0\]: expected \(model, indices, condition\[, weight\]\)"):
        cg.FactorGraph(3, [(g, [0, 1])])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        cg.FactorGraph(3, [(g, [0, 3], None)])


def test_clamped_is_the_exact_conditional(gen):
    """p(x1 | x0 = 1.5) of a two-component GMM: a mixture with weights w_k N(1.5; m_k0, s^2)."""
    base = cg.GaussianMixture(torch.tensor([[0.0, 1.0], [2.0, -1.0]]), 0.5, name="g")
    cond = base.clamp([0], torch.tensor([1.5]))
    assert cond.dim == 1 and repr(cond) == "g.clamp(1 coordinates)"
    x = torch.randn(16, 1, generator=gen)
    full = torch.cat([torch.full((16, 1), 1.5), x], dim=1)
    torch.testing.assert_close(cond.energy(x, 0.2), base.energy(full, 0.2))
    torch.testing.assert_close(cond.score(x, 0.2), base.score(full, 0.2)[:, 1:])
    torch.testing.assert_close(cond.full(x), full)
    w = torch.softmax(torch.tensor([-(1.5**2) / (2 * 0.25), -(0.5**2) / (2 * 0.25)]), 0)
    mean = (w * torch.tensor([1.0, -1.0])).sum().item()
    std = math.sqrt(0.25 + (w * torch.tensor([1.0, 1.0])).sum().item() - mean**2)
    n = 4000
    y = cg.sample(cond, n, "mala", generator=torch.Generator().manual_seed(2)).x
    assert abs(y.mean().item() - mean) < 4.5 * std / math.sqrt(n) + 0.01  # + t_min's noise
    with pytest.raises(ValueError, match="values must have shape"):
        base.clamp([0], torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="indices must be distinct"):
        base.clamp([0, 0], torch.tensor([1.0, 2.0]))


def test_three_factor_product_keeps_the_grid_points_on_the_diagonals():
    """bars_h & bars_v & diagonals: exact (grid-normalized) mass sits on the 10 of the 16 grid
    blobs with y - x in {-1, 0, 1}, the flat stripes weighing those 10 about alike."""
    q = toy2d.bars_h() & toy2d.bars_v() & toy2d.diagonals()
    ref = cg.metrics.grid_density(q, lo=-3, hi=3, resolution=300)
    c = torch.tensor(toy2d.BAND_CENTERS)
    points = torch.cartesian_prod(c, c)  # (16, 2) grid blobs (x, y)
    x = ref.sample(20000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, points).argmin(1)
    assert (torch.cdist(x, points).min(1).values < 0.4).float().mean() > 0.99
    mass = torch.bincount(nearest, minlength=16).float() / len(x)
    on = ((points[:, 1] - points[:, 0]).abs() < 1.5)
    assert on.sum() == 10 and mass[~on].sum() < 0.01
    # 10 blobs of similar weight; the Gaussian bar lengths (std 1.5) make outer ones lighter
    assert mass[on].min() > 0.04 and mass[on].max() < 0.2


def test_composition_metadata_comes_from_the_operands():
    """Every composition derives dim, schedule, space, has_energy and t_min from its operands:
    a clamped discrete component stays discrete (a hand copy once dropped num_categories)."""
    rbm = cg.RBM(torch.randn(3, 6) * 0.3, torch.zeros(6), torch.zeros(3))
    for composed in (rbm & rbm, rbm ** 2, cg.mixture([rbm, rbm ** 0.5])):
        assert (composed.dim, composed.num_categories, composed.schedule) == (6, 2, rbm.schedule)
    clamped = rbm.clamp([0, 2], torch.tensor([1.0, 0.0]))
    assert (clamped.dim, clamped.num_categories) == (4, 2)
    a = toy2d.density("ring")
    a.t_min = 0.02
    composed = (a & toy2d.density("corner")) ** 0.5
    assert composed.t_min == 0.02 and composed.sampling_t_min == 0.02 and composed.has_energy


def test_a_condition_passes_through_compositions_and_is_refused_where_none_is_taken(gen):
    """``cond`` is part of the protocol: compositions hand it to every operand; a component
    that takes none (or has one bound already) raises instead of ignoring it."""
    m = cg.EnergyDiffusion(2, hidden=16, num_classes=3)
    x, c = torch.randn(5, 2, generator=gen), torch.tensor(1)
    torch.testing.assert_close((m ** 2).energy(x, 0.3, cond=c), 2 * m.energy(x, 0.3, cond=c))
    torch.testing.assert_close((m & m ** 0.5).score(x, 0.3, cond=c), 1.5 * m.score(x, 0.3, cond=c))
    torch.testing.assert_close(m.clamp([0], torch.tensor([0.2])).energy(x[:, 1:], 0.3, cond=c),
                               m.energy(torch.stack([torch.full((5,), 0.2), x[:, 1]], 1), 0.3, cond=c))
    with pytest.raises(ValueError, match="takes no condition"):
        (toy2d.density("ring") & toy2d.density("corner")).energy(x, 0.3, cond=c)
    with pytest.raises(ValueError, match="takes no condition"):
        m.given(2).score(x, 0.3, cond=c)


def test_a_product_of_one_network_under_several_conditions_is_one_forward_pass(gen):
    """``m.given(0) & m.given(1) ** 0.5 & g & m.given(2)``: the three bound conditions of m go
    through one batched call, and energy and score equal the factor-by-factor sum."""
    m = cg.EnergyDiffusion(dim=2, num_classes=3, hidden=16)
    g = cg.GaussianMixture(means=torch.zeros(1, 2), stds=1.0, name="g")
    product = m.given(0) & m.given(1) ** 0.5 & g & m.given(2)
    x = torch.randn(9, 2, generator=gen)
    calls = []
    m.net.register_forward_hook(lambda *args: calls.append(args[1][0].shape[0]))
    energy, score = product.energy_and_score(x, 0.3)
    assert calls == [27]  # one forward over 3 conditions x 9 points
    parts = [m.given(0), m.given(1) ** 0.5, g, m.given(2)]
    torch.testing.assert_close(energy, sum(c.energy(x, 0.3) for c in parts), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(score, sum(c.score(x, 0.3) for c in parts), rtol=1e-5, atol=1e-5)
    assert len(product.leaves()) == 4 and product.components[2] is g  # the algebra's view is unchanged


def test_a_weighted_score_weighs_each_coordinate_and_composes_coordinates_exactly(gen):
    a = cg.GaussianMixture(torch.tensor([[0.0, 0.0]]), 0.5, name="a")
    b = cg.GaussianMixture(torch.tensor([[2.0, 2.0]]), 0.3, name="b")
    x = torch.randn(16, 2, generator=gen)
    half = cg.WeightedScore(a, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(half.score(x, 0.3), (a ** 0.5).score(x, 0.3))
    assert not half.has_energy and half.energy_and_score(x, 0.3)[0] is None
    per_chain = cg.WeightedScore(a, torch.rand(16, 2, generator=gen))
    torch.testing.assert_close(per_chain.score(x, 0.3), per_chain.weights * a.score(x, 0.3))
    # independent coordinates: coordinate 0 from a, coordinate 1 from b is the exact product of
    # those marginals at every noise level, so the sampler must draw it
    spatial = cg.WeightedScore(a, torch.tensor([1.0, 0.0])) & cg.WeightedScore(b, torch.tensor([0.0, 1.0]))
    n = 4000
    s = cg.sample(spatial, n, "reverse", generator=gen, levels=100).x
    mean, std = torch.tensor([0.0, 2.0]), torch.tensor([0.5, 0.3])
    assert ((s.mean(0) - mean).abs() < 4 * std / n ** 0.5).all(), s.mean(0)
    assert ((s.std(0) / std - 1).abs() < 4 / (2 * n) ** 0.5 + 0.02).all(), s.std(0)  # + discretization


def test_a_weighted_score_refuses_weights_of_the_wrong_shape():
    a = cg.GaussianMixture(torch.zeros(1, 2), 1.0)
    with pytest.raises(ValueError, match=r"weights must have shape \(2,\) or \(chains, 2\)"):
        cg.WeightedScore(a, torch.ones(3))
    with pytest.raises(ValueError, match="weights hold 4 chains"):
        cg.WeightedScore(a, torch.ones(4, 2)).score(torch.zeros(3, 2))
