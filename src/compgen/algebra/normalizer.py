"""Normalizing constants of compositions: exact for Gaussian-mixture algebra, estimated otherwise.

A product of Gaussian mixtures is a Gaussian mixture (``N(x; a, A) N(x; b, B) = N(a; b, A + B)
N(x; c, C)``), and so is a power of a single Gaussian; so any product, mixture and positive
integer power of analytic mixtures is, at every noise level, an explicit weighted sum of
Gaussians (:class:`GaussianTerms`) whose mass is the sum of its weights. That makes
``log Z_t`` exact, and mixtures of products (``(a & b) | c``) exact.

Everything else (learned energies, negations) is estimated by annealed importance sampling with
resampling (SMC; Neal 2001, Del Moral et al. 2006) along the diffusion path, starting from the
known N(0, I) at t = 1: one run gives ``log Z_t`` at every level it visits.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from compgen.algebra.component import Component, Composition, Condition, with_condition

if TYPE_CHECKING:
    from compgen.samplers.result import SampleResult

# Terms lighter than the heaviest by this many nats are dropped: they change log Z by < 1e-21
# and keep products of mixtures with hundreds of components small.
PRUNE_NATS = 50.0


class GaussianTerms(NamedTuple):
    """An unnormalized density ``sum_k exp(log_weights[k]) N(x; means[k], diag(variances[k]))``."""

    log_weights: Tensor  # (K,)
    means: Tensor  # (K, D)
    variances: Tensor  # (K, D)

    def log_mass(self) -> float:
        """log of the integral of the density: logsumexp of the log-weights."""
        return torch.logsumexp(self.log_weights, 0).item()

    def times(self, other: GaussianTerms) -> GaussianTerms:
        """The product density, one term per pair (negligible pairs pruned)."""
        va, vb = self.variances[:, None], other.variances[None]  # (Ka, 1, D), (1, Kb, D)
        diff = self.means[:, None] - other.means[None]
        total = va + vb
        log_overlap = -0.5 * (diff**2 / total + torch.log(2 * math.pi * total)).sum(-1)  # N(a; b, A + B)
        var = va * vb / total
        mean = var * (self.means[:, None] / va + other.means[None] / vb)
        log_w = self.log_weights[:, None] + other.log_weights[None] + log_overlap
        keep = (log_w >= log_w.max() - PRUNE_NATS).flatten()
        d = self.means.shape[1]
        return GaussianTerms(log_w.flatten()[keep], mean.reshape(-1, d)[keep], var.reshape(-1, d)[keep])

    def power(self, exponent: float) -> GaussianTerms | None:
        """``density ** exponent`` as terms: a positive integer power of any mixture, or any
        positive power of a single Gaussian; None where no finite sum of Gaussians is exact."""
        if exponent <= 0:
            return None
        if exponent == int(exponent):
            out = self
            for _ in range(int(exponent) - 1):
                out = out.times(self)
            return out
        if len(self.log_weights) != 1:
            return None
        v = self.variances  # (w N(x; m, v))^b = w^b (2 pi v)^(d (1 - b) / 2) b^(-d / 2) N(x; m, v / b)
        log_w = exponent * self.log_weights + (0.5 * (1 - exponent) * torch.log(2 * math.pi * v)
                                               - 0.5 * math.log(exponent)).sum(-1)
        return GaussianTerms(log_w, self.means, v / exponent)

    def shifted(self, log_factor: float | Tensor) -> GaussianTerms:
        return GaussianTerms(self.log_weights + log_factor, self.means, self.variances)


def concatenate(parts: list[GaussianTerms]) -> GaussianTerms:
    """The sum of several densities given as terms."""
    return GaussianTerms(*(torch.cat(p) for p in zip(*parts, strict=True)))


class LogNormalizer(NamedTuple):
    """``log Z_t = log int exp(-E(x, t)) dx`` with its standard error (0 when exact)."""

    value: float
    std_error: float
    exact: bool
    t: float


def log_normalizer(component: Component, t: float = 0.0, n: int = 1024, levels: int = 100,
                   runs: int = 4, generator: torch.Generator | None = None) -> LogNormalizer:
    """``log Z_t`` of a component or composition over R^D.

    Exact (closed form) for Gaussian-mixture algebra. Otherwise estimated by annealed importance
    sampling (:func:`estimate_log_normalizers`) from t = 1 down to ``t``, which for learned
    models is raised to the lowest level they are trained for (``component.sampling_t_min``);
    the returned ``t`` says which level was used.

    Args:
        n, levels, runs: chains, noise levels and independent runs of the estimate; the
            standard error is the spread of the ``runs`` estimates over sqrt(runs).
    """
    terms = component.gaussian_terms(t)
    if terms is not None:
        return LogNormalizer(terms.log_mass(), 0.0, True, float(t))
    t = max(float(t), component.sampling_t_min)
    ts, log_z, err = estimate_log_normalizers(component, t, n, levels, runs, generator)
    return LogNormalizer(log_z[-1].item(), err[-1].item(), False, ts[-1].item())


def estimate_log_normalizers(component: Component, t_min: float, n: int = 1024, levels: int = 100,
                             runs: int = 4, generator: torch.Generator | None = None
                             ) -> tuple[Tensor, Tensor, Tensor]:
    """``log Z_t`` at every level of an annealed MALA run with SMC weights, t = 1 -> ``t_min``.

    ``runs`` independent runs of ``n // runs`` chains; their estimates of Z are averaged (each
    is unbiased for Z), and the standard error of log Z is the spread of their logs / sqrt(runs).

    Returns: levels (L,) decreasing, log Z (L,), standard errors (L,).
    """
    from compgen.samplers import AnnealedMALA, sample  # samplers build on the algebra

    if component.num_categories is not None:
        raise ValueError(f"log_normalizer: {component!r} is discrete; estimates follow the diffusion "
                         "path of continuous components")
    component.require_energy("a normalizing constant")
    if runs < 2 or n // runs < 2:
        raise ValueError(f"log_normalizer: need runs >= 2 and n // runs >= 2, got n={n}, runs={runs}")
    sampler = AnnealedMALA(levels=levels, resample=True, t_min=t_min)
    results: list[SampleResult] = [sample(component, n // runs, sampler, generator=generator)
                                   for _ in range(runs)]
    per_run = torch.stack([r.log_normalizers for r in results]).double()  # (runs, L)
    log_z = torch.logsumexp(per_run, 0) - math.log(runs)
    return results[0].levels, log_z.float(), (per_run.std(0) / math.sqrt(runs)).float()


class Normalized(Composition):
    """``base`` divided by its estimated ``Z_t`` at every noise level: a normalized density.

    Built by :func:`normalized`. ``log Z_t`` is interpolated linearly in log-SNR between the
    levels it was estimated at, and held constant beyond them.

    Attributes:
        levels, log_z, std_error: (L,) the estimate (levels decreasing).
    """

    normalized = True

    def __init__(self, base: Component, levels: Tensor, log_z: Tensor, std_error: Tensor):
        super().__init__([base], "normalized")
        self.base, self.levels, self.log_z, self.std_error = base, levels, log_z, std_error
        self._log_snr = base.schedule.log_snr(levels.double()).float()  # increasing

    def log_normalizer_at(self, t: float | Tensor) -> Tensor:
        """Interpolated log Z_t, of t's shape."""
        s = self.schedule.log_snr(torch.as_tensor(t, dtype=torch.float64)).float()
        s = s.clamp(self._log_snr[0], self._log_snr[-1])
        i = torch.searchsorted(self._log_snr, s.reshape(-1)).clamp(1, len(self._log_snr) - 1)
        lo, hi = self._log_snr[i - 1], self._log_snr[i]
        u = ((s.reshape(-1) - lo) / (hi - lo)).clamp(0, 1)
        return (self.log_z[i - 1] + u * (self.log_z[i] - self.log_z[i - 1])).reshape(s.shape)

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.base.energy(x, t, **with_condition(cond)) + self.log_normalizer_at(t).to(x)

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        energy, score = self.base.energy_and_score(x, t, **with_condition(cond))
        return energy + self.log_normalizer_at(t).to(x), score

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.base.score(x, t, **with_condition(cond))

    def __repr__(self) -> str:
        return f"normalized({self.base!r})"


_ESTIMATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def normalized(component: Component, n: int = 1024, levels: int = 100, runs: int = 4,
               generator: torch.Generator | None = None) -> Component:
    """``component`` divided by its estimated normalizing constant at every noise level.

    ``log Z_t`` is estimated once per component and settings (:func:`estimate_log_normalizers`,
    seeded by ``generator`` or seed 0) and cached; an already normalized component is returned as
    it is. (A :class:`~compgen.Mixture` uses the closed form instead where one exists.)
    """
    if component.normalized:
        return component
    key = (n, levels, runs)
    cache = _ESTIMATES.setdefault(component, {})
    if key not in cache:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        cache[key] = estimate_log_normalizers(component, component.sampling_t_min, n, levels, runs, gen)
    return Normalized(component, *cache[key])


class NotNormalizableError(ValueError):
    """A composition's density does not integrate: its tails grow instead of falling."""


def tail_directions(dim: int, per_pair: int = 17) -> Tensor:
    """Squared unit directions w = u^2 (M, D) to check tails along: the axes, and for D <= 8
    mixes of every pair of axes (for diagonal Gaussians the tail depends on u only through u^2)."""
    eye = torch.eye(dim, dtype=torch.float64)
    if dim > 8:
        return eye
    lam = torch.linspace(0, 1, per_pair, dtype=torch.float64)[1:-1, None]
    pairs = [lam * eye[i] + (1 - lam) * eye[j] for i in range(dim) for j in range(i + 1, dim)]
    return torch.cat([eye, *pairs])


TAIL_FLOOR = 0.05
"""The least tail precision a composition may have at any noise level (a std of 4.5): at t = 1
every part is about N(0, I), so ``a & ~b`` is nearly flat there and annealed chains drift off
(``ring & ~corner``: W2 60,000x the noise floor before this check)."""


def check_normalizable(component: Component, t_min: float, levels: int = 20) -> None:
    """Raise :class:`NotNormalizableError` if the composition is provably not normalizable along
    the path from t = 1 to ``t_min``: for Gaussian-mixture algebra, far out along u the
    log-density at level t is ``-c(u, t) |x|^2 / 2`` (:meth:`~compgen.Component.tail_precision`),
    and the path is confining where ``c >= TAIL_FLOOR`` along every direction at every level.
    Components with unknown tails (learned models) pass; their runs are checked by
    :meth:`~compgen.SampleResult.diagnostics` instead."""
    w = tail_directions(component.dim)
    for t in component.schedule.timesteps(levels, t_min).tolist():
        c = component.tail_precision(w, t)
        if c is None:
            return
        if bool((c >= TAIL_FLOOR).all()):
            continue
        i = int(c.argmin())
        direction = ", ".join(f"{v:.2f}" for v in w[i].sqrt().tolist())
        negated = [repr(p) for p in _negative_powers(component)]
        culprit = f"; {', '.join(negated)} cancels or outweighs the others' tails" if negated else ""
        shape = "is flat" if abs(c[i].item()) < TAIL_FLOOR else f"grows like {-c[i].item() / 2:+.3g} |x|^2"
        raise NotNormalizableError(
            f"{component!r} is not normalizable at noise level t={t:.3g}: along ({direction}) its "
            f"log-density {shape} far out{culprit}. Negate at a lower strength (e.g. negate(b, 0.5) "
            "or b ** -0.5), or multiply by a factor with narrower tails")


def _negative_powers(component: Component) -> list[Component]:
    """The negated parts (powers with a negative exponent) of a composition."""
    from compgen.algebra.compose import Power

    if isinstance(component, Power):
        return [component] if component.exponent < 0 else _negative_powers(component.base)
    return [p for child in getattr(component, "components", []) for p in _negative_powers(child)]
