"""Exact references and distances."""

import math

import pytest
import torch

import compgen as cg
from compgen.data import toy2d
from conftest import z_tolerance


def test_grid_density_of_a_gaussian_is_exact():
    g = cg.GaussianMixture(torch.tensor([[0.5, -0.5]]), 0.7)
    ref = cg.metrics.grid_density(g, lo=-5, hi=5, resolution=400)
    assert abs(ref.log_z) < 1e-4
    entropy = 0.5 * 2 * math.log(2 * math.pi * math.e * 0.49)  # of a 2D isotropic Gaussian
    assert ref.expected_log_prob() == pytest.approx(-entropy, abs=1e-3)
    x = torch.tensor([[0.5, -0.5], [3.0, 3.0]])  # also outside a grid point
    expected = -math.log(2 * math.pi * 0.49) - torch.tensor([0.0, (2.5**2 + 3.5**2) / (2 * 0.49)])
    torch.testing.assert_close(ref.log_prob(x), expected.double(), rtol=1e-5, atol=1e-4)


def test_grid_samples_match_the_density(gen):
    g = cg.GaussianMixture(torch.tensor([[0.5, -0.5]]), 0.7)
    ref = cg.metrics.grid_density(g, lo=-5, hi=5, resolution=400)
    n = 20_000
    x = ref.sample(n, gen)
    assert torch.all((x.mean(0) - torch.tensor([0.5, -0.5])).abs() < z_tolerance(0.7, n))
    ll = cg.metrics.log_likelihood(x, ref)
    log_p_std = math.sqrt(0.5 * 2)  # log-density of a 2D Gaussian: half a chi-square(2), std 1
    assert abs(ll - ref.expected_log_prob()) < z_tolerance(log_p_std, n)


def test_w2_and_mmd(gen):
    x = torch.randn(300, 2, generator=gen)
    assert cg.metrics.w2(x, x) == pytest.approx(0.0, abs=1e-6)
    assert cg.metrics.w2(x, x + torch.tensor([3.0, 4.0])) == pytest.approx(5.0, rel=1e-6)
    y = torch.randn(300, 2, generator=gen)
    assert abs(cg.metrics.mmd(x, y)) < 0.02 < cg.metrics.mmd(x, y + 2)
    with pytest.raises(ValueError, match=r"w2 needs \(n, D\) and \(m, D\)"):
        cg.metrics.w2(x, torch.zeros(5, 3))


def test_noise_floor_shrinks_with_sample_size():
    ref = cg.metrics.grid_density(toy2d.ring(), lo=-4, hi=4, resolution=256)
    gen = torch.Generator().manual_seed(0)
    assert ref.noise_floor(2000, gen) < ref.noise_floor(200, gen)


def test_grid_density_errors():
    with pytest.raises(ValueError, match="needs a 2D component, got dim 3"):
        cg.metrics.grid_density(cg.GaussianMixture(torch.zeros(1, 3), 1.0))
    with pytest.raises(ValueError, match="need hi > lo"):
        cg.metrics.grid_density(toy2d.ring(), lo=1, hi=0)
