"""Normalizing constants: closed forms for Gaussian-mixture algebra, AIS estimates otherwise, and
mixtures that mix normalized densities."""

import math

import pytest
import torch

import compgen as cg
from compgen.algebra import Component
from compgen.algebra.normalizer import log_normalizer
from conftest import z_tolerance


@pytest.fixture
def abc():
    a = cg.GaussianMixture(torch.tensor([[0.0, 1.0], [0.0, -1.0]]), 0.3, name="a")
    b = cg.GaussianMixture(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0.5, 0.4]),
                           weights=torch.tensor([0.3, 0.7]), name="b")
    c = cg.GaussianMixture(torch.tensor([[-1.5, -1.0]]), torch.tensor([[0.4, 0.6]]), name="c")
    return a, b, c


class EnergyOnly(Component):
    """A component that hides its closed form (as a learned model would), shifted by ``offset``."""

    def __init__(self, inner, offset=0.0):
        self.inner, self.offset, self.dim, self.schedule = inner, offset, inner.dim, inner.schedule

    def energy(self, x, t=0.0):
        return self.inner.energy(x, t) + self.offset

    def __repr__(self):
        return f"hidden({self.inner!r})"


@pytest.mark.parametrize("t", [0.0, 0.1, 0.6])
def test_closed_form_log_normalizers_match_grid_integration(abc, t):
    a, b, c = abc
    for q in [a & b, a & b & c, (a & b) ** 2, c**0.5, (a | c) & b]:
        exact = log_normalizer(q, t)
        assert exact.exact and exact.std_error == 0
        grid = cg.metrics.grid_density(q, lo=-6, hi=6, resolution=600, t=t).log_z
        assert exact.value == pytest.approx(grid, abs=1e-4), repr(q)


def test_a_mixture_of_a_product_weighs_the_normalized_densities(abc):
    """(a & b) | b is 1/2 p_ab / Z_ab + 1/2 p_b; mixture([a & b, c], w) puts mass w_0 on a & b."""
    a, b, c = abc
    q = (a & b) | b
    ref = cg.metrics.grid_density(q, lo=-6, hi=6, resolution=600)
    assert abs(ref.log_z) < 1e-4  # normalized, although Z_ab = exp(-1.9) is far from one
    for mix, w0 in [(q, 0.5), (cg.mixture([a & b, c], [0.2, 0.8]), 0.2)]:
        grid = torch.cartesian_prod(ref.centers, ref.centers).float()
        ref = cg.metrics.grid_density(mix, lo=-6, hi=6, resolution=600)
        mass = (ref.probs.flatten() * mix.responsibilities(grid)[:, 0].double()).sum()
        assert mass.item() == pytest.approx(w0, abs=1e-4)
    unnormalized = cg.mixture([a & b, b], normalize=False)
    assert cg.metrics.grid_density(unnormalized, lo=-6, hi=6, resolution=600).log_z < -0.3


@pytest.mark.parametrize("sampler", ["mala", "hmc"])
def test_sampled_mixture_of_product_has_the_exact_component_mass(abc, sampler):
    a, b, _ = abc
    q = (a & b) | b
    n = 4000
    x = cg.sample(q, n, sampler, generator=torch.Generator().manual_seed(0)).x
    resp = q.responsibilities(x)[:, 0]  # its mean over exact samples is the weight, 1/2
    assert abs(resp.mean().item() - 0.5) < z_tolerance(resp.std().item(), n)


def test_ais_estimate_of_a_hidden_normalizer_is_within_its_error(abc):
    a, b, c = abc
    exact = log_normalizer(a & c, 0.01).value
    hidden = EnergyOnly(a & c, offset=3.0)  # Z = Z_ac * e^-3
    est = log_normalizer(hidden, 0.01, n=2048, levels=60, runs=8, generator=torch.Generator().manual_seed(0))
    assert not est.exact and est.t == pytest.approx(0.01)
    assert 0 < est.std_error < 0.2
    assert abs(est.value - (exact - 3.0)) < 4.5 * est.std_error + 0.02, (est, exact - 3.0)


def test_mixture_estimates_normalizers_it_cannot_compute(abc):
    a, b, c = abc
    hidden = EnergyOnly(a & c, offset=-5.0)  # unnormalized: would take almost all the mass
    q = hidden | b
    ref = cg.metrics.grid_density(q, lo=-6, hi=6, resolution=400)
    assert abs(ref.log_z) < 0.1
    assert q.log_normalizer_errors[0] > 0 and q.log_normalizer_errors[1] == 0
    grid = torch.cartesian_prod(ref.centers, ref.centers).float()
    mass = (ref.probs.flatten() * q.responsibilities(grid)[:, 0].double()).sum().item()
    assert mass == pytest.approx(0.5, abs=0.05)


def test_a_mixture_warns_when_an_estimated_normalizer_is_uncertain(abc):
    a, b, c = abc
    uncertain = cg.Normalized(EnergyOnly(a & c), torch.tensor([1.0, 0.01]), torch.zeros(2),
                              torch.tensor([0.0, 0.5]))  # an estimate with a 0.5-nat standard error
    with pytest.warns(UserWarning, match=r"estimated to \+-0.50 nats"):
        cg.mixture([uncertain, b])


def test_log_normalizer_of_a_gaussian_mixture_is_zero_at_every_level(abc):
    _, b, _ = abc
    for t in [0.0, 0.3, 1.0]:
        assert log_normalizer(b, t).value == pytest.approx(0.0, abs=1e-6)
    assert math.isclose(log_normalizer(b**2, 0.0).value,
                        cg.metrics.grid_density(b**2, -6, 6, 600).log_z, abs_tol=1e-4)
