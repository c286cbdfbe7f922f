"""Discrete components, their algebra, and every discrete sampler against exact distributions."""

import math

import pytest
import torch

import compgen as cg
from compgen.algebra.discrete import all_states
from compgen.metrics import exact_distribution, total_variation, tv_noise_floor
from compgen.models.autoregressive import AutoregressiveModel
from compgen.models.discrete import RBM, EnergyTable, Ising, Potts, lattice_couplings

Z = 5.0  # TV bound: the mean TV of exact samples plus Z of its standard deviations
CHAINS = 10000


def binary_composition(gen):
    """A product of an Ising chain with an arbitrary table, mixed with a field-only Ising: 2^8."""
    d = 8
    chain = torch.diag(torch.full((d - 1,), 0.8), 1)
    ising = Ising(chain + chain.T, fields=torch.randn(d, generator=gen) * 0.3, name="chain")
    table = EnergyTable(torch.randn(2**d, generator=gen), dim=d, num_categories=2, name="table")
    field = Ising(torch.zeros(d, d), fields=torch.linspace(-1, 1, d), name="field")
    return (ising & table) | field


def categorical_composition(gen):
    """A Potts ring over 3 colours with a table negated at half strength: 3^5 states."""
    d, k = 5, 3
    ring = torch.diag(torch.ones(d - 1), 1)
    ring[0, d - 1] = 1
    potts = Potts(0.7 * (ring + ring.T), k, fields=torch.randn(d, k, generator=gen) * 0.5)
    table = EnergyTable(torch.randn(k**d, generator=gen), dim=d, num_categories=k)
    return potts & cg.negate(table, 0.5)


def assert_exact(x, component, gen):
    probs = exact_distribution(component)
    mean, std = tv_noise_floor(probs, len(x), generator=gen)
    tv = total_variation(x, probs, component.num_categories)
    assert tv < mean + Z * std, f"TV {tv:.4f} vs exact-sample TV {mean:.4f} +- {std:.4f}"


# -- components and algebra ------------------------------------------------------------------
def test_composed_energies_match_closed_form(gen):
    q = binary_composition(gen)
    (ising, table), field = q.components[0].components, q.components[1]
    x = all_states(8, 2)
    s = 2.0 * x - 1
    e_ising = -0.5 * ((s @ ising.couplings) * s).sum(-1) - s @ ising.fields
    e_prod = e_ising + table.table
    e_field = -s @ field.fields
    # a mixture mixes normalized distributions: each part divided by its sum over all 2^8 states
    log_p = torch.stack([-e_prod - torch.logsumexp(-e_prod, 0), -e_field - torch.logsumexp(-e_field, 0)])
    expected = -torch.logsumexp(log_p + math.log(0.5), 0)
    torch.testing.assert_close(q.energy(x), expected, rtol=1e-5, atol=1e-4)
    unnormalized = cg.mixture([ising & table, field], normalize=False)
    mixed = -torch.logsumexp(torch.stack([-e_prod, -e_field]) + math.log(0.5), 0)
    torch.testing.assert_close(unnormalized.energy(x), mixed, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close((~table ** 2).energy(x), -2 * table.table)


def test_gradient_gives_single_variable_changes_for_tables_and_ising(gen):
    """For an energy table the one-hot gradient is exactly the energy of every single change;
    for Ising (multilinear in the one-hot) too."""
    for comp in [EnergyTable(torch.randn(3**4, generator=gen), dim=4, num_categories=3),
                 Ising(lattice_couplings(2, 0.5), torch.randn(4, generator=gen))]:
        x = all_states(4, comp.num_categories)
        _, score = comp.energy_and_score(x)
        for i in range(4):
            for k in range(comp.num_categories):
                changed = x.clone()
                changed[:, i] = k
                # multilinear in the one-hot: E(change) - E(x) = -(s[i,k] - s[i,x_i])
                gain = -(score[:, i, k] - score.gather(-1, x[..., None])[:, i, 0])
                torch.testing.assert_close(comp.energy(changed) - comp.energy(x), gain, atol=1e-4, rtol=1e-4)


def test_autoregressive_model_is_normalized_and_proposes_spans(gen):
    ar = AutoregressiveModel(3, length=5, hidden=16)
    states = all_states(5, 3)
    with torch.no_grad():
        assert ar.log_prob(states).exp().sum().item() == pytest.approx(1.0, abs=1e-4)
        assert ar.with_length(3).log_prob(all_states(3, 3)).exp().sum().item() == pytest.approx(1.0, abs=1e-4)
        x = ar.sample(64, gen)
        y = ar.resample_span(x, 1, 3, gen)
        assert torch.equal(y[:, [0, 3, 4]], x[:, [0, 3, 4]]) and not torch.equal(y, x)
        total = ar.span_log_prob(x, 0, 2) + ar.span_log_prob(x, 2, 5)
        torch.testing.assert_close(total, ar.log_prob(x), atol=1e-5, rtol=1e-5)
    assert ar.with_length(3).network is ar.network


def test_exact_autoregressive_samples(gen):
    ar = AutoregressiveModel(3, length=5, hidden=16, init_seed=1)
    assert_exact(ar.sample(CHAINS, gen), ar, gen)


def test_discrete_bad_inputs(gen):
    table = EnergyTable(torch.zeros(8), dim=3, num_categories=2)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        table.energy(torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"categories must lie in \[0, 1\]"):
        table.energy(torch.full((4, 3), 2))
    with pytest.raises(ValueError, match="8 entries"):
        EnergyTable(torch.zeros(7), dim=3, num_categories=2)
    with pytest.raises(ValueError, match="symmetric"):
        Ising(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="incompatible spaces"):
        table & cg.GaussianMixture(means=torch.zeros(1, 3), stds=1.0)
    with pytest.raises(ValueError, match="is continuous"):
        cg.sample(cg.GaussianMixture(means=torch.zeros(1, 3), stds=1.0), 4, "gibbs")
    with pytest.raises(ValueError, match="is discrete"):
        cg.sample(table, 4, "hmc")
    with pytest.raises(ValueError, match="proposal must be a model"):
        cg.sample(table, 4, "mh", proposal=table)
    with pytest.raises(ValueError, match="flips must be in"):
        cg.sample(table, 4, "gwg", flips=4)


def test_nan_energy_raises(gen):
    with pytest.raises(ValueError, match="not NaN"):
        EnergyTable(torch.tensor([0.0, float("nan")] * 4), dim=3, num_categories=2)
    bad = EnergyTable(torch.zeros(8), dim=3, num_categories=2)
    bad.table[3] = float("nan")
    with pytest.raises(cg.NonFiniteError, match="NaN energy"):
        cg.sample(bad, 64, "gibbs", steps=5, generator=gen)


# -- samplers against exact distributions ------------------------------------------------------
@pytest.mark.parametrize("sampler, settings", [
    ("gibbs", {"steps": 30}),  # reaches the exact-sample TV after about 14 sweeps
    ("gibbs", {"steps": 30, "scan": "random"}),
    ("gwg", {"steps": 250}),  # after about 125 steps
    ("gwg", {"steps": 250, "flips": 2}),  # after about 200 steps
    ("flip_mh", {"steps": 250}),
])
def test_binary_samplers_match_exact_distribution(sampler, settings, gen):
    q = binary_composition(gen)
    x = cg.sample(q, CHAINS, sampler, generator=gen, **settings).x
    assert_exact(x, q, gen)


@pytest.mark.parametrize("sampler, settings", [
    ("gibbs", {"steps": 30}),
    ("gwg", {"steps": 250}),
    ("gwg", {"steps": 250, "flips": 3}),
    ("flip_mh", {"steps": 250, "flips": 2}),
])
def test_categorical_samplers_match_exact_distribution(sampler, settings, gen):
    q = categorical_composition(gen)
    x = cg.sample(q, CHAINS, sampler, generator=gen, **settings).x
    assert_exact(x, q, gen)


@pytest.mark.parametrize("span", [None, 2])
def test_model_proposal_mh_matches_exact_product(span, gen):
    """MH proposing from the autoregressive factor of a product, accepting with the product."""
    p1 = AutoregressiveModel(3, length=5, hidden=16, init_seed=1, name="p1")
    table = EnergyTable(1.5 * torch.randn(3**5, generator=gen), dim=5, num_categories=3)
    q = p1 & table
    result = cg.sample(q, CHAINS, "mh", proposal=p1, span=span, steps=40, generator=gen)
    assert 0.05 < result.acceptance.mean() < 0.95
    assert_exact(result.x, q, gen)


def test_an_unconverged_sampler_fails_the_exact_check(gen):
    """The check has power: two Gibbs sweeps from uniform are visibly not the target."""
    q = binary_composition(gen)
    x = cg.sample(q, CHAINS, "gibbs", steps=2, generator=gen).x
    with pytest.raises(AssertionError, match="TV"):
        assert_exact(x, q, gen)


def test_rbm_block_gibbs_and_free_energy_agree(gen):
    """The RBM's free energy is its exact visible marginal: block Gibbs (which uses the hidden
    units) lands on the distribution enumerated from it."""
    rbm = RBM.random(visible=8, hidden=3, weight_std=1.0, seed=3)
    assert_exact(rbm.block_gibbs(CHAINS, 50, gen), rbm, gen)


# -- the constraint languages and the naive product --------------------------------------------
def test_language_samplers_are_uniform_over_their_languages(gen):
    from compgen.tasks.discrete.languages import member, sample_language

    states = all_states(6, 4)
    for language in ["balanced", "motif"]:
        inside = member(language, states)
        uniform = inside.double() / inside.sum()
        x = sample_language(language, CHAINS, 6, gen)
        assert member(language, x).all()
        mean, std = tv_noise_floor(uniform, CHAINS, generator=gen)
        assert total_variation(x, uniform, 4) < mean + Z * std


def test_language_membership_and_codec():
    from compgen.tasks.discrete.languages import decode, encode, has_motif, is_balanced

    x = encode(["(a)(b)", "())(ab", "((a)b)", "ab)(ab"])
    assert decode(x) == ["(a)(b)", "())(ab", "((a)b)", "ab)(ab"]
    assert is_balanced(x).tolist() == [True, False, True, False]
    assert has_motif(x).tolist() == [True, True, False, True]


def test_naive_product_of_conditionals_is_biased_and_its_sampler_matches_its_density(gen):
    from compgen.tasks.discrete.models import naive_product_log_prob, naive_product_sample

    p1 = AutoregressiveModel(3, length=4, hidden=16, init_seed=1)
    p2 = AutoregressiveModel(3, length=4, hidden=16, init_seed=2)
    for m in (p1, p2):  # sharpen the random models: history-dependent, confident conditionals
        m.network.head.weight.data *= 8
        m.network.token_embedding.data *= 10
    states = all_states(4, 3)
    naive = naive_product_log_prob([p1, p2], states).double().exp()
    assert naive.sum().item() == pytest.approx(1.0, abs=1e-5)
    exact = exact_distribution(p1 & p2)
    assert 0.5 * (naive - exact).abs().sum() > 0.2  # 0.46 exactly, with these weights
    x = naive_product_sample([p1, p2], CHAINS, gen)
    mean, std = tv_noise_floor(naive, CHAINS, generator=gen)
    assert total_variation(x, naive, 3) < mean + Z * std


@pytest.mark.slow
@pytest.mark.parametrize("sampler, settings", [
    ("gibbs", {"steps": 40}), ("gwg", {"steps": 800, "flips": 2}), ("flip_mh", {"steps": 1500}),
])
def test_samplers_on_a_14_variable_product(sampler, settings, gen):
    """2^14 = 16,384 states: an RBM times an Ising ring, against its enumerated distribution."""
    d = 14
    ring = torch.diag(torch.ones(d - 1), 1)
    ring[0, d - 1] = 1
    q = RBM.random(visible=d, hidden=4, weight_std=1.0, seed=5) & Ising(0.4 * (ring + ring.T))
    x = cg.sample(q, 40000, sampler, generator=gen, **settings).x
    assert_exact(x, q, gen)


def test_a_nan_proposal_is_rejected_and_counted_like_a_continuous_one(gen):
    """One contract for both families: only a non-finite *current* state raises; a NaN proposal
    is an impossible state, rejected (or never drawn) and counted in ``non_finite``."""
    bad = EnergyTable(torch.zeros(8), dim=3, num_categories=2)
    bad.table[3] = float("nan")  # state (0, 1, 1)
    start = torch.zeros(64, 3, dtype=torch.long)
    for sampler in ("gibbs", "flip_mh"):
        result = cg.sample(bad, 64, sampler, steps=20, x_init=start, generator=gen)
        assert result.non_finite > 0 and result.levels is None
        assert not (result.x == torch.tensor([0, 1, 1])).all(-1).any()
        assert any("non-finite" in w for w in result.diagnostics())
