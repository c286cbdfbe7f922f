"""What every sampler returns, and the interface every sampler implements."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from compgen.algebra.component import Component


class NonFiniteError(FloatingPointError):
    """Samples became NaN or infinite during sampling."""


@dataclass
class SampleResult:
    """Samples plus diagnostics: what every sampler returns, continuous or discrete.

    Attributes:
        x: (n, D) samples: each chain's last state (at the last noise level).
        acceptance: (L,) mean MH acceptance probability per noise level (annealed samplers; for
            unadjusted ones the probability MH would have had, NaN where it cannot be computed)
            or (S,) per step (discrete samplers; 1 for Gibbs).
        evaluations: evaluations of the composed density (energy and/or score) per chain.
        wall_time: seconds, without the time spent in the callback.
        levels: (L,) noise levels visited, decreasing; None for discrete samplers.
        step_sizes: (L,) step size used at each level; None where there is none.
        non_finite: evaluated proposals whose energy or score was not finite; each was
            rejected (a sampler raises only when a chain's current state is non-finite).
        resamplings: how many times SMC resampled the chains (0 without ``resample``).
        log_normalizers: (L,) with SMC weights, the estimate of log Z_t at each level (the
            annealed importance sampling estimate of log int exp(-E(x, t)) dx); else None.
        ess: (L,) with SMC weights, the effective sample size at each level as a fraction of
            the chains (before any resampling there); else None.
        radius: (L,) the 99th percentile of the chains' norms after each level.
        score_mismatch: at the last level, how far the score is from the energy's gradient
            (:func:`score_mismatch`); None without energies.
    """

    x: Tensor
    acceptance: Tensor
    evaluations: float
    wall_time: float
    levels: Tensor | None = None
    step_sizes: Tensor | None = None
    non_finite: int = 0
    resamplings: int = 0
    log_normalizers: Tensor | None = None
    ess: Tensor | None = None
    radius: Tensor | None = None
    score_mismatch: float | None = None

    @classmethod
    def concatenate(cls, results: list[SampleResult]) -> SampleResult:
        """One result for runs over disjoint sets of chains (``cg.sample(..., chunk_size=)``):
        samples and counts joined, per-level diagnostics averaged with the chunks' sizes as
        weights (a log normalizer by its mean of exp), wall times added; the score mismatch is
        the first chunk's."""
        sizes = torch.tensor([r.x.shape[0] for r in results], dtype=torch.float64)
        w = sizes / sizes.sum()

        def mean(values: list[Tensor | None]) -> Tensor | None:
            if values[0] is None:
                return None
            stacked = torch.stack([v.double() for v in values])  # (chunks, L)
            return (w.view(-1, *[1] * (stacked.dim() - 1)) * stacked).sum(0).to(values[0].dtype)

        first = results[0]
        log_z = None if first.log_normalizers is None else torch.logsumexp(
            torch.stack([r.log_normalizers for r in results]) + w.log()[:, None], 0)
        return cls(torch.cat([r.x for r in results]), mean([r.acceptance for r in results]),
                   float(sum(wi * r.evaluations for wi, r in zip(w.tolist(), results, strict=True))),
                   sum(r.wall_time for r in results), first.levels,
                   mean([r.step_sizes for r in results]), sum(r.non_finite for r in results),
                   sum(r.resamplings for r in results), log_z, mean([r.ess for r in results]),
                   mean([r.radius for r in results]), first.score_mismatch)

    @property
    def samples_per_second(self) -> float:
        return self.x.shape[0] / self.wall_time

    def summary(self) -> str:
        if self.levels is None:
            return (f"{self.x.shape[0]} samples, {len(self.acceptance)} steps, {self.evaluations:.0f} "
                    f"evaluations, acceptance {self.acceptance.mean():.2f}, {self.wall_time:.2f}s")
        acc = self.acceptance[~self.acceptance.isnan()]
        acc_text = f"acceptance {acc.mean():.2f}" if len(acc) else "acceptance n/a"
        return (f"{self.x.shape[0]} samples, {len(self.levels)} levels, {self.evaluations} "
                f"evaluations, {acc_text}, {self.resamplings} resamplings, {self.wall_time:.2f}s")

    def diagnostics(self) -> list[str]:
        """Warnings that the run is unreliable, one sentence each ([] when none fired):

        - energy/score mismatch: the score differs from the energy's slope by more than 5%;
        - acceptance collapse: MH acceptance below 5% at some level (the chains stopped moving);
        - SMC weight degeneracy: effective sample size below 5% of the chains at some level;
        - non-finite proposals: some proposals had a non-finite energy or score (rejected);
        - runaway chains: the 99th-percentile norm ends above 3x its value at t = 1 and still
          grew by more than 5% over the last quarter of the levels, where a normalizable
          target's scale has long settled (at 3/4 of the default log-SNR grid alpha_t is 0.97,
          so a wide target grows there by 3% at most), or ends above 10x its value at t = 1
          (diffusion models assume data of about unit scale): likely not normalizable. A
          runaway run's score mismatch is not reported (far out, float32 energies are too
          coarse for finite differences).
        """
        out = []
        acc = torch.nan_to_num(self.acceptance, nan=1.0)
        if len(acc) and acc.min() < ACCEPTANCE_FLOOR:
            i = int(acc.argmin())
            where = f"step {i}" if self.levels is None else f"level {i} (t={self.levels[i]:.3g})"
            out.append(f"acceptance collapsed to {acc[i]:.3f} at {where}: "
                       "the chains barely move there; try a smaller step_size or more levels")
        if self.ess is not None and self.ess.min() < ESS_FLOOR:
            i = int(self.ess.argmin())
            out.append(f"SMC weights degenerated: effective sample size {100 * self.ess[i]:.1f}% of the "
                       f"chains at level {i} (t={self.levels[i]:.3g}); the resampled chains are few "
                       "distinct ones")
        if self.non_finite:
            out.append(f"{self.non_finite} proposals had a non-finite energy or score and were rejected; "
                       "a smaller step_size avoids them")
        runaway = self._runaway()
        if runaway:
            out.append(runaway)
        elif self.score_mismatch is not None and self.score_mismatch > SCORE_MISMATCH:
            out.append(f"energy and score disagree: the score differs from the energy's finite-"
                       f"difference slope by {100 * self.score_mismatch:.0f}% (median) at the last level; "
                       "MH corrections with such a component sample neither")
        return out

    def _runaway(self) -> str | None:
        """The runaway warning, or None (see :meth:`diagnostics`)."""
        if self.radius is None or len(self.radius) < 4:
            return None
        start, r0, r1 = (self.radius[i].item() for i in (0, (3 * len(self.radius)) // 4, -1))
        if r1 > RUNAWAY_SCALE * start and r1 > RUNAWAY_GROWTH * r0:
            how = "still growing at the last levels"
        elif r1 > RUNAWAY_FAR * start:
            how = f"over {RUNAWAY_FAR:.0f}x the N(0, I) start's"
        else:
            return None
        return (f"chains ran away: their 99th-percentile norm went from {start:.3g} at t=1 to {r1:.3g}, "
                f"{how}; the composition is likely not normalizable (a negated factor whose tails "
                "fall faster than the others'), or the data are far from unit scale")


ACCEPTANCE_FLOOR, ESS_FLOOR, SCORE_MISMATCH = 0.05, 0.05, 0.05
RUNAWAY_SCALE, RUNAWAY_GROWTH, RUNAWAY_FAR = 3.0, 1.05, 10.0


def score_mismatch(component: Component, x: Tensor, t: float, chains: int = 64) -> float | None:
    """Relative disagreement of score and energy at points x (B, D): along a random unit v per
    point, the score's slope a = s.v against the energy's b = (E(x - hv) - E(x + hv)) / 2h
    (central differences, h = 1e-2 sigma_t); the median over up to ``chains`` points of
    |a - b| / ((|a| + |b|) / 2). 0 for a consistent component (up to rounding), 2/3 for a score
    twice the gradient; None for score-only components."""
    if not component.has_energy:
        return None
    x = x[:chains]
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(0)).to(x)  # not the caller's stream
    v = v / v.norm(dim=-1, keepdim=True)
    h = 1e-2 * max(component.schedule.sigma(torch.tensor(t)).item(), 1e-3)  # float32 energies: not smaller
    with torch.no_grad():
        slope = (component.energy(x - h * v, t) - component.energy(x + h * v, t)) / (2 * h)
    along = (component.score(x, t) * v).sum(-1)
    scale = ((along.abs() + slope.abs()) / 2).clamp_min(1e-12)
    return float(((along - slope).abs() / scale).median())


def radius(x: Tensor) -> float:
    """The 99th percentile of the norms of chains (B, D)."""
    return torch.quantile(x.norm(dim=-1).double(), 0.99).item()


def check_finite(finite: Tensor, level: int, t: float, step: int) -> None:
    """Raise :class:`NonFiniteError` naming the level and step unless every chain (B,) is finite."""
    _raise_if(~finite, "samples", level, t, f"step {step}")


def check_state(energy: Tensor | None, score: Tensor, level: int, t: float) -> None:
    """Raise :class:`NonFiniteError` if some chain's current energy or score is not finite: its
    state cannot be reweighted or moved (a proposal like it would have been rejected)."""
    bad = ~torch.isfinite(score).all(-1)
    if energy is not None:
        bad = bad | ~torch.isfinite(energy)
    _raise_if(bad, "energy or score", level, t, "step 0, at their current points")


def _raise_if(bad: Tensor, what: str, level: int, t: float, where: str) -> None:
    """The one message for chains (B,) gone non-finite."""
    if bad.any():
        raise NonFiniteError(
            f"non-finite {what} in {int(bad.sum())} of {bad.shape[0]} chains at level {level} (t={t:.4g}), "
            f"{where}; try a smaller step_size, or check that the composition is normalizable (a "
            "negated factor must decay slower than the others)")


def noise_levels(component: Component, levels: int, t_min: float | None) -> Tensor:
    """The sampler's grid: ``levels`` log-SNR-spaced levels from t=1 down to ``t_min``, which
    defaults to the lowest level every part of the composition is trustworthy at. Returns (L,)."""
    t_min = component.sampling_t_min if t_min is None else t_min
    return component.schedule.timesteps(levels, t_min)


class Sampler:
    """Anything with ``run(component, x_init, generator, callback, disable) -> SampleResult``;
    discrete samplers set ``discrete = True``.

    Settings that do not depend on the component are checked when the sampler is built
    (``_check_settings``, called by the dataclass constructor); the rest when it runs.
    """

    discrete = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_type(type(self).__name__, f.name, f.type, getattr(self, f.name))
        self._check_settings()

    def _check_settings(self) -> None:
        """Raise ValueError naming a bad setting."""

    def run(self, component: Component, x: Tensor, generator: torch.Generator | None = None,
            callback: Callable[[dict], None] | None = None, disable: bool = True) -> SampleResult:
        raise NotImplementedError


_PLAIN = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),)}


def _check_type(owner: str, name: str, annotation: str, value) -> None:
    """Raise TypeError unless ``value`` fits a plain annotation ("int", "float | None", ...);
    other annotations are left to the sampler's own checks."""
    parts = [p.strip() for p in str(annotation).split("|")]
    if not all(p in _PLAIN for p in parts):
        return
    ok = any(isinstance(value, _PLAIN[p]) and not (p in ("int", "float") and isinstance(value, bool))
             for p in parts)
    if not ok:
        raise TypeError(f"{owner}: {name} must be {' or '.join(parts)}, got {value!r} "
                        f"({type(value).__name__})")


class Reporter:
    """Hands the callback the one dict every sampler reports after each level (annealed) or step
    (discrete): ``x``, ``i``, ``t`` (None for discrete samplers), ``acceptance``, ``step_size``
    (None where there is none), ``evaluations`` and ``seconds`` so far; and keeps the time spent
    in the callback out of the run's wall time."""

    def __init__(self, callback: Callable[[dict], None] | None):
        self.callback, self.start, self.outside = callback, time.perf_counter(), 0.0

    def elapsed(self) -> float:
        """Seconds since the run started, the callback's own time excluded."""
        return time.perf_counter() - self.start - self.outside

    def __call__(self, x: Tensor, i: int, t: float | None, acceptance: float, step_size: float | None,
                 evaluations: float) -> None:
        if self.callback is None:
            return
        started = time.perf_counter()
        self.callback({"x": x, "i": i, "t": t, "acceptance": acceptance, "step_size": step_size,
                       "evaluations": evaluations, "seconds": started - self.start - self.outside})
        self.outside += time.perf_counter() - started
