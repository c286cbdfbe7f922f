"""Every bad input gets a clear error naming the argument and what was expected."""

import pytest
import torch

import compgen as cg
from compgen.data import toy2d
from compgen.expression import parse


def test_gaussian_mixture_arguments():
    with pytest.raises(ValueError, match=r"means must have shape \(K, D\), got \(3,\)"):
        cg.GaussianMixture(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match=r"stds must be a scalar, \(2,\) or \(2, 2\), got \(3,\)"):
        cg.GaussianMixture(torch.zeros(2, 2), torch.ones(3))
    with pytest.raises(ValueError, match="stds must be positive"):
        cg.GaussianMixture(torch.zeros(2, 2), -1.0)
    with pytest.raises(ValueError, match=r"weights must be \(2,\) and positive"):
        cg.GaussianMixture(torch.zeros(2, 2), 1.0, weights=torch.tensor([1.0, -1.0]))


def test_x_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"ring expects x of shape \(batch, 2\), got \(5, 3\)"):
        toy2d.ring().energy(torch.zeros(5, 3), 0.1)
    with pytest.raises(ValueError, match=r"t must be a scalar or have shape \(5,\), got \(4,\)"):
        toy2d.ring().energy(torch.zeros(5, 2), torch.zeros(4))


def test_composition_dimension_and_schedule_mismatch():
    a3 = cg.GaussianMixture(torch.zeros(1, 3), 1.0, name="a3")
    with pytest.raises(ValueError, match="different dimensions: ring has dim 2, a3 has dim 3"):
        toy2d.ring() & a3
    other = cg.GaussianMixture(torch.zeros(1, 2), 1.0, name="other", schedule=cg.VPSchedule(0.1, 10.0))
    with pytest.raises(ValueError, match="mixture of components on different noise schedules"):
        toy2d.ring() | other
    with pytest.raises(TypeError, match="product takes compgen components, got Tensor"):
        cg.Product([toy2d.ring(), torch.zeros(2)])


def test_mixture_over_score_only_model_names_it():
    s = cg.ScoreDiffusion(dim=2, name="my_score_net")
    with pytest.raises(cg.EnergyRequiredError, match="mixture needs energies, but my_score_net is score"):
        toy2d.ring() | s
    with pytest.raises(cg.EnergyRequiredError, match="my_score_net is score-only"):
        cg.mixture([toy2d.ring(), s & toy2d.ring()])
    with pytest.raises(cg.EnergyRequiredError, match="AnnealedHMC.*my_score_net is score-only"):
        cg.sample(s & toy2d.ring(), 4, "hmc")
    with pytest.raises(cg.EnergyRequiredError, match="grid_density needs energies"):
        cg.metrics.grid_density(s)


def test_algebra_argument_errors():
    ring = toy2d.ring()
    with pytest.raises(ValueError, match=r"mixture weights must have shape \(2,\), got \(3,\)"):
        cg.mixture([ring, ring], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="mixture weights must be finite and positive"):
        cg.mixture([ring, ring], [1.0, 0.0])
    with pytest.raises(ValueError, match="exponent must be finite and non-zero, got 0.0"):
        ring**0
    with pytest.raises(ValueError, match="negate: strength must be positive, got -1"):
        cg.negate(ring, -1)


def test_model_condition_errors():
    m = cg.EnergyDiffusion(dim=2, num_classes=3, name="m")
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        m.energy(x, 0.5, cond=7)
    with pytest.raises(ValueError, match="is unconditional; it takes no condition"):
        cg.EnergyDiffusion(dim=2, name="u").given(1)
    v = cg.ScoreDiffusion(dim=2, cond_dim=4)
    with pytest.raises(ValueError, match=r"cond must have shape \(4,\) or \(4, 4\), got \(3,\)"):
        v.score(x, 0.5, cond=torch.zeros(3))
    with pytest.raises(ValueError, match="give num_classes or cond_dim, not both"):
        cg.EnergyDiffusion(dim=2, num_classes=3, cond_dim=4)


def test_train_argument_errors():
    m = cg.EnergyDiffusion(dim=2, name="m")
    with pytest.raises(ValueError, match=r"data must have shape \(N, 2\), got \(10, 3\)"):
        cg.train(m, torch.zeros(10, 3), steps=1, progress=False)
    with pytest.raises(ValueError, match="pass labels exactly when the model is conditional"):
        cg.train(m, torch.zeros(10, 2), labels=torch.zeros(10, dtype=torch.long), steps=1, progress=False)
    with pytest.raises(ValueError, match="non-finite"):
        cg.train(m, torch.full((10, 2), float("nan")), steps=1, progress=False)


def test_expression_parser():
    named = {"a": toy2d.ring(), "b": toy2d.bars_h()}
    assert repr(parse("(a & b) | a ** 0.5", named)) == "(ring & bars_h) | ring ** 0.5"
    assert repr(parse("a & ~b", named)) == "ring & ~bars_h"
    assert parse("a ** -2", named).exponent == -2
    with pytest.raises(ValueError, match="unknown component 'c'"):
        parse("a & c", named)
    with pytest.raises(ValueError, match="unsupported syntax"):
        parse("a + b", named)
    with pytest.raises(ValueError, match="unsupported syntax"):
        parse("__import__('os')", named)
    with pytest.raises(ValueError, match="cannot parse expression"):
        parse("a &", named)
