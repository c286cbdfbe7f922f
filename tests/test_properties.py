"""Property tests over random Gaussian-mixture expressions (hypothesis).

1. The tail rule behind the normalizability check (:meth:`Component.tail_precision` against
   ``TAIL_FLOOR``) agrees with grid integration at random noise levels.
2. A composed energy equals the closed form of its Gaussian terms, up to one constant (log Z).
"""

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import compgen as cg
from compgen.algebra.normalizer import TAIL_FLOOR, tail_directions

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def gaussian_mixtures(draw) -> cg.GaussianMixture:
    k = draw(st.integers(1, 3))
    coordinate = st.floats(-2.5, 2.5, allow_nan=False)
    means = torch.tensor([[draw(coordinate), draw(coordinate)] for _ in range(k)])
    stds = torch.tensor([[draw(st.floats(0.2, 1.5)), draw(st.floats(0.2, 1.5))] for _ in range(k)])
    weights = torch.tensor([draw(st.floats(0.2, 1.0)) for _ in range(k)])
    return cg.GaussianMixture(means, stds, weights)


def _with_negations(children):
    """Products, mixtures and powers (negative ones included) of sub-expressions."""
    return st.one_of(
        st.tuples(children, children).map(lambda ab: ab[0] & ab[1]),
        st.tuples(children, st.sampled_from([0.5, 2.0, -0.5, -1.0])).map(lambda cp: cp[0] ** cp[1]),
    )


def _exact(children):
    """Products, normalized mixtures and integer powers: what has closed-form Gaussian terms."""
    return st.one_of(
        st.tuples(children, children).map(lambda ab: ab[0] & ab[1]),
        st.tuples(children, children).map(lambda ab: cg.mixture([ab[0], ab[1]], [0.3, 0.7])),
        children.map(lambda c: c ** 2),
    )


# half the draws divide one mixture by a power of another: as often confining as not
NEGATED = st.one_of(
    st.recursive(gaussian_mixtures(), _with_negations, max_leaves=3),
    st.tuples(gaussian_mixtures(), gaussian_mixtures(), st.sampled_from([0.5, 1.0, 2.0]))
    .map(lambda abs_: abs_[0] & abs_[1] ** -abs_[2]),
)


@SETTINGS
@given(NEGATED, st.floats(0.01, 1.0))
def test_the_tail_rule_agrees_with_grid_integration(q, t):
    """Where the rule says the tails confine (precision >= TAIL_FLOOR everywhere), the grid's
    outer ring holds no mass; where a tail is flat or grows, it holds most of it. Levels whose
    smallest precision falls between 0 and 0.1 are left out: a grid cannot tell them apart."""
    c = q.tail_precision(tail_directions(2), t).min().item()
    assume(abs(c) < 1e-9 or c <= -0.02 or c >= 0.1)
    ref = cg.metrics.grid_density(q, lo=-30, hi=30, resolution=300, t=t)
    edge = ref.probs.clone()
    edge[10:-10, 10:-10] = 0
    confining = c >= TAIL_FLOOR
    assert (edge.sum().item() < 1e-4) == confining, (repr(q), t, c, edge.sum().item())


def _closed_form_log_density(terms, x: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(x; m_k, diag(v_k)) for x (B, D), in float64."""
    x = x.double()[:, None, :]
    var = terms.variances.double()[None]
    log_n = -0.5 * (((x - terms.means.double()[None]) ** 2) / var + torch.log(2 * math.pi * var)).sum(-1)
    return torch.logsumexp(terms.log_weights.double()[None] + log_n, dim=-1)


@SETTINGS
@given(st.recursive(gaussian_mixtures(), _exact, max_leaves=3), st.floats(0.01, 1.0),
       st.integers(0, 2**31 - 1))
def test_composed_energies_match_the_closed_form(q, t, seed):
    terms = q.gaussian_terms(t)
    assert terms is not None, repr(q)
    x = 1.5 * torch.randn(64, 2, generator=torch.Generator().manual_seed(seed))
    exact = _closed_form_log_density(terms, x)
    energy = q.energy(x, t).double()
    offset = (-energy - exact).median()  # log Z: the energy is unnormalized
    keep = exact > exact.max() - 30  # float32 energies carry no information far below the peak
    torch.testing.assert_close(-energy[keep] - offset, exact[keep], atol=2e-3 * (1 + exact[keep].abs().max()),
                               rtol=0)


@pytest.mark.parametrize("expression", ["ring & ~corner", "bars_h & ~bars_v"])
def test_known_non_normalizable_expressions_fail_before_sampling(expression):
    from compgen.expression import parse
    from compgen.tasks.toy2d.models import components

    q = parse(expression, components("analytic"))
    with pytest.raises(cg.NotNormalizableError, match="is not normalizable"):
        cg.sample(q, 10)
