"""The public API from the project's issue, run as written (smaller sizes)."""

import torch

import compgen as cg


def test_public_api_snippet(tmp_path):
    a = cg.GaussianMixture(means=torch.tensor([[0., 1.], [0., -1.]]), stds=0.1)
    b = cg.GaussianMixture(means=torch.tensor([[1., 0.], [0., 1.]]), stds=0.2, weights=torch.tensor([.3, .7]))
    q = (a & b) | (a & cg.negate(b, 0.5))
    x = cg.sample(q, n=500, sampler="hmc", generator=torch.Generator().manual_seed(0), levels=30).x
    assert x.shape == (500, 2)
    ref = cg.metrics.grid_density(q, lo=-3, hi=3, resolution=128)
    assert isinstance(cg.metrics.log_likelihood(x, ref), float)
    assert cg.metrics.w2(x, ref.sample(500)) >= 0 and ref.noise_floor(500) > 0
    m = cg.EnergyDiffusion(dim=2)
    data = a.sample(256)
    m = cg.train(m, data, steps=20, progress=False)
    assert isinstance(cg.ScoreDiffusion(dim=2), cg.Component)
    y = cg.sample(m & a, n=100, sampler="mala", levels=5).x
    assert y.shape == (100, 2)
    path = tmp_path / "ring.safetensors"
    cg.save(m, path)
    m2 = cg.load(path)
    torch.testing.assert_close(m2.energy(y, 0.5), m.energy(y, 0.5))
    exact = cg.log_normalizer(a & b, t=0.0)
    assert exact.exact and exact.std_error == 0
    assert abs(cg.metrics.grid_density((a & b) | b, lo=-3, hi=3, resolution=256).log_z) < 1e-3
    estimate = cg.log_normalizer(m & a, t=0.0, n=64, levels=5)
    assert not estimate.exact and estimate.std_error >= 0 and abs(estimate.t - m.t_min) < 1e-9
    assert cg.sample(m & a, 16, levels=5).diagnostics() is not None
    for name in ("reverse", "ula", "mala", "uhmc", "hmc"):
        assert cg.sample(a & b, 16, name, levels=5).x.shape == (16, 2)
    assert cg.sample(a & b, 16, cg.samplers.AnnealedHMC(levels=5, leapfrog=2)).x.shape == (16, 2)
