"""Annealed MCMC: run a kernel for K steps at each noise level, from t = 1 down to t_min.

The driver is shared; :class:`AnnealedULA`, :class:`AnnealedMALA`, :class:`AnnealedUHMC`,
:class:`AnnealedHMC` and :class:`RepeatedReverse` differ only in kernel and settings.

With ``resample`` the chains carry importance weights for the change of target between
levels, ``log w += E_prev(x) - E_next(x)``, and are resampled when the effective sample size
drops: sequential Monte Carlo (Del Moral et al. 2006), which corrects the relative mass of
modes that local MCMC moves cannot carry mass between.

With ``reverse_step=True`` (as in Du et al. 2023) the chains move between levels by one
ancestral reverse-diffusion step with the composed score (free: the score is cached). On the
2D suite it did not help: with SMC it raised the weight variance (about 10x more resampling,
higher W2), and without SMC it changed little. So it is off by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from compgen.algebra.component import Component, EvaluationError
from compgen.samplers.kernels import Info, Noise, draw_noise, hmc_step, langevin_step
from compgen.samplers.result import (
    Reporter,
    Sampler,
    SampleResult,
    check_finite,
    check_state,
    noise_levels,
    radius,
    score_mismatch,
)
from compgen.samplers.reverse import ancestral_kernel
from compgen.samplers.target import State, Target, check_line_points, has_log_ratio

LEARNED_REVERSE_BELOW = 0.05
"""The default noise level below which annealed samplers of learned energies follow the reverse
process (sigma_t = 0.17 on the default schedule). Chosen on ``compgen bench robustness`` among
0, 0.02, 0.05, 0.1 and 0.2 (MALA): 0.05 lost to reverse diffusion on the fewest products (6%,
with 0.02) and came closest to reverse on single factors (README)."""


@dataclass
class AnnealedMCMC(Sampler):
    """Shared settings of the annealed samplers.

    Args:
        levels: number of noise levels (log-SNR spaced from t=1 to ``t_min``).
        steps: MCMC steps K per level.
        step_size: initial step size at t=1; scaled by sigma_t^2 (Langevin) or sigma_t (HMC)
            per level, or, with ``adapt``, tuned per level toward ``target_accept``.
        adapt: tune the step size during the first half of each level's steps toward
            ``target_accept``. Unadjusted samplers tune on the acceptance MH would have had
            (when energies exist), so they take the steps their MH twin would take.
        target_accept: acceptance rate the adaptation aims at.
        line_points: 0 to use exact energies in MH, or >= 2 to estimate energy differences
            by the trapezoid line integral of the score (for score-only models).
        resample: carry SMC importance weights between levels and resample. ``None`` (default)
            means: for MH samplers, when every component's energy is exact (analytic). Learned
            energies are only pinned down through their gradients; their errors compound in
            the weights and collapse them (the ``resample=True`` rows of
            ``compgen bench fidelity``), so for them it is opt-in.
        ess_threshold: resample when the effective sample size falls below this fraction of
            the chains; a high value resamples often, each time with few duplicates.
        reverse_step: move between levels by the ancestral reverse step (else: stay put, and
            the next level's MCMC steps adapt the chains).
        t_min: the last (lowest) noise level; by default the composition's own
            (``component.sampling_t_min``: 1e-3 for analytic parts, 5e-3 for learned ones).
        reverse_below: below this noise level the chains take reverse-diffusion steps with the
            composed score instead of MCMC. ``None`` (default): :data:`LEARNED_REVERSE_BELOW`
            when any part is learned, 0 (MCMC at every level) when all energies are exact or
            with ``resample=True``.
            Learned energies are right locally but not globally at low noise: their scores
            are accurate, but the energy offsets between separated modes are barely constrained
            by denoising score matching there, and MCMC that still moves chains between modes
            moves mass by those offsets (``compgen bench robustness``; README).
        compile: run each kernel step through ``torch.compile`` (inductor: fused C++ loops on the
            CPU). Same random stream and the same samples as without, up to float rounding in
            the fused arithmetic. It pays where the Python and per-operation cost of eager
            PyTorch dominates (analytic densities, small networks, many steps: ``compgen bench
            speed``); the first run in a process compiles for 10-30 s (cached on disk after).
    """

    levels: int = 100
    steps: int = 4
    step_size: float = 0.05
    adapt: bool = True
    target_accept: float = 0.6
    line_points: int = 0
    resample: bool | None = None
    ess_threshold: float = 0.9
    reverse_step: bool = False
    t_min: float | None = None
    reverse_below: float | None = None
    compile: bool = False

    metropolis_adjust = True
    step_power = 2.0  # step ~ sigma^2 for Langevin, sigma for HMC

    def _kernel(self, target: Target, state: State, momentum: Tensor, step: Tensor, noise: Noise
                ) -> tuple[State, Tensor, Info]:
        """One kernel step: a pure function of its arguments (so it can be compiled)."""
        raise NotImplementedError

    def _check_settings(self) -> None:
        if self.levels < 1 or self.steps < 1:
            raise ValueError(f"levels and steps must be >= 1, got {self.levels}, {self.steps}")
        if self.step_size <= 0:
            raise ValueError(f"step_size must be positive, got {self.step_size}")
        if not 0 < self.target_accept < 1 or not 0 < self.ess_threshold <= 1:
            raise ValueError(f"target_accept must be in (0, 1) and ess_threshold in (0, 1], got "
                             f"{self.target_accept}, {self.ess_threshold}")
        check_line_points(self.line_points)
        if self.resample and self.line_points:
            raise ValueError("resample=True needs exact energies; it cannot use line_points")
        if self.resample and self.reverse_below:
            raise ValueError("resample=True needs MCMC at every level; set reverse_below=0")

    def _validate(self, component: Component) -> None:
        if self.metropolis_adjust and self.line_points == 0:
            component.require_energy(
                f"{type(self).__name__} (Metropolis-Hastings; or pass line_points>=2 to "
                "estimate energy differences from scores)")
        if self.resample:
            component.require_energy("resample=True (importance weights)")

    def _resamples(self, component: Component) -> bool:
        if self.resample is None:
            return self.metropolis_adjust and component.all_exact and self.line_points == 0
        return self.resample

    def _switch_level(self, component: Component, resample: bool) -> float:
        if self.reverse_below is None:  # SMC weights need MCMC at every level
            return 0.0 if component.all_exact or resample else LEARNED_REVERSE_BELOW
        if resample and self.reverse_below > 0:  # resample=None chose SMC for this component
            raise ValueError("resample=True needs MCMC at every level; set reverse_below=0")
        return self.reverse_below

    def run(self, component: Component, x: Tensor, generator: torch.Generator | None = None,
            callback: Callable[[dict], None] | None = None, disable: bool = True) -> SampleResult:
        self._validate(component)
        resample = self._resamples(component)
        switch = self._switch_level(component, resample)
        report, ts = Reporter(callback), noise_levels(component, self.levels, self.t_min)
        # 0-d float32 tensors: the cheapest scalars in float32 arithmetic, and they can change
        # (levels, adapted step sizes) without a recompilation of the compiled kernel
        levels, sigmas = ts.float(), component.schedule.sigma(ts).float()
        kernel = _compiled(self._kernel) if self.compile else self._kernel
        step = self.step_size * sigmas[0] ** self.step_power  # a 0-d tensor: adapted with no host sync
        adapt = self.adapt and has_log_ratio(component, self.line_points)
        state, momentum, log_w = None, torch.zeros_like(x), None
        evaluations, non_finite, resample_count = 0, torch.zeros((), dtype=torch.long), 0
        acceptance, steps_used = torch.full((len(ts),), math.nan), torch.zeros(len(ts))
        log_z, log_z_resampled = (torch.full((len(ts),), math.nan, dtype=torch.float64) if resample
                                  else None), 0.0
        ess, radii = torch.full((len(ts),), math.nan) if resample else None, torch.zeros(len(ts))
        for i in tqdm(range(len(ts)), disable=disable, desc=type(self).__name__):
            target = Target(component, levels[i], self.line_points)
            mcmc, log_kernels = ts[i].item() >= switch, 0.0
            if i and (self.reverse_step or not mcmc):
                x, log_kernels = self._reverse_step(component, state, ts[i - 1].item(), ts[i].item(),
                                                    generator)
            try:
                new_state = target.evaluate(x)
            except EvaluationError as err:
                raise err.at(i, ts[i].item(), None) from err
            evaluations += 1
            check_state(new_state.energy, new_state.score, i, ts[i].item())
            if resample:  # the last level resamples before its MCMC steps spread the copies out
                log_w = self._reweight(log_w, state, new_state) + log_kernels
                log_z[i] = log_z_resampled + torch.logsumexp(log_w.double(), 0) - math.log(len(log_w))
                ess[i] = 1.0 / (torch.softmax(log_w.double(), 0) ** 2).sum() / len(log_w)
                new_state, momentum, log_w, did = _maybe_resample(
                    new_state, momentum, log_w, self.ess_threshold, generator, force=i == len(ts) - 1)
                resample_count += did
                log_z_resampled = log_z[i].item() if did else log_z_resampled
            state = new_state
            if not adapt:
                step = self.step_size * sigmas[i] ** self.step_power
            if mcmc:
                state, momentum, step, level = self._level(kernel, target, state, momentum, step, adapt,
                                                           generator, i)
                acceptance[i] = level[0]
                evaluations, non_finite = evaluations + level[1], non_finite + level[2]
            steps_used[i], x = step, state.x
            radii[i] = radius(x)
            report(x, i, ts[i].item(), acceptance[i].item(), steps_used[i].item(), evaluations)
        mismatch = score_mismatch(component, x, ts[-1].item())
        return SampleResult(x.detach(), acceptance, evaluations, report.elapsed(), ts, steps_used,
                            int(non_finite), resample_count, log_z, ess, radii, mismatch)

    def _level(self, kernel: Callable, target: Target, state: State, momentum: Tensor, step: Tensor,
               adapt: bool, generator: torch.Generator | None, i: int
               ) -> tuple[State, Tensor, Tensor, tuple[Tensor, int, Tensor]]:
        """``steps`` kernel steps at one level, tuning the step size over the first half.

        Nothing here reads a tensor's value on the host (no ``.item()``): the step size adapts as a
        0-d tensor and the diagnostics accumulate as tensors; non-finite chains are looked for
        once, at the end of the level.

        Returns the state, momentum, step size and (mean acceptance probability, evaluations,
        non-finite proposals)."""
        accept, evaluations, non_finite, moved_off = 0.0, 0, 0, []
        for k in range(self.steps):
            noise = draw_noise(state.x, generator, self.metropolis_adjust)
            try:
                state, momentum, info = kernel(target, state, momentum, step, noise)
            except EvaluationError as err:
                raise err.at(i, float(target.t), k) from err
            accept, evaluations = accept + info.accept_prob, evaluations + info.evaluations
            non_finite = non_finite + info.non_finite
            moved_off.append(info.accepted & info.non_finite)  # MH never accepts those; ULA does
            if adapt and k < max(1, self.steps // 2):
                step = step * torch.exp(1.5 * (info.accept_prob.mean() - self.target_accept))
        moved_off = torch.stack(moved_off)  # (steps, B)
        if moved_off.any():  # name the first step at which a chain left the reals
            k = int(moved_off.any(-1).nonzero()[0])
            check_finite(~moved_off[k], i, float(target.t), k)
        return state, momentum, step, (accept.mean() / self.steps, evaluations, non_finite.sum())

    @staticmethod
    def _reverse_step(component: Component, state: State, t: float, s: float,
                      generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Ancestral step t -> s from the cached score; also ``log q(x_t | x_s) - log r(x_s | x_t)``,
        the forward over the reverse kernel density, which the SMC weight of the move needs."""
        mean, std, a_ts, var_ts = ancestral_kernel(component.schedule, state.x, state.score, t, s)
        noise = torch.randn(state.x.shape, generator=generator).to(state.x)
        x_s = mean + std * noise
        log_fwd = -((state.x - a_ts * x_s) ** 2).sum(-1) / (2 * var_ts)
        log_rev = -(noise**2).sum(-1) / 2
        d = state.x.shape[1]  # normalizing constants of the two Gaussians
        return x_s, log_fwd - log_rev - 0.5 * d * math.log(var_ts / std**2)

    @staticmethod
    def _reweight(log_w: Tensor | None, previous: State | None, current: State) -> Tensor:
        """Incremental SMC weight of moving the chains from the previous level's target to this one.

        At the first level the chains are N(0, I) draws, so the weight is q_1(x) / N(x; 0, I)
        (with its normalizing constant, so that the mean weight estimates Z_1).
        """
        if previous is None:
            d = current.x.shape[1]
            return -current.energy + 0.5 * (current.x**2).sum(-1) + 0.5 * d * math.log(2 * math.pi)
        return log_w + previous.energy - current.energy


def _compiled(kernel: Callable) -> Callable:
    """``kernel`` through torch.compile. One compilation per composition and chain count: raise
    dynamo's default of 8 per function, past which it would run the kernel eagerly."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    return torch.compile(kernel, dynamic=False)


def _maybe_resample(state: State, momentum: Tensor, log_w: Tensor, ess_threshold: float,
                    generator: torch.Generator | None, force: bool = False
                    ) -> tuple[State, Tensor, Tensor, bool]:
    """Systematic resampling when ESS < ess_threshold * n (or always, with ``force``)."""
    n = log_w.shape[0]
    w = torch.softmax(log_w.double(), dim=0)
    if not force and 1.0 / (w**2).sum() >= ess_threshold * n:
        return state, momentum, log_w, False
    u = (torch.rand((), generator=generator, dtype=torch.float64) + torch.arange(n)) / n
    idx = torch.searchsorted(torch.cumsum(w, 0), u).clamp(max=n - 1)
    state = State(*(None if v is None else v[idx] for v in state))
    return state, momentum[idx], torch.zeros_like(log_w), True


@dataclass
class AnnealedLangevin(AnnealedMCMC):
    """Annealed Langevin dynamics; MH-adjusted (MALA) when ``metropolis_adjust``."""

    noise_scale: float = 1.0

    def _kernel(self, target, state, momentum, step, noise):
        new_state, info = langevin_step(target, state, step, noise, self.noise_scale)
        return new_state, momentum, info


@dataclass
class AnnealedULA(AnnealedLangevin):
    """Annealed unadjusted Langevin (Song & Ermon 2019): step_size * sigma_t^2 per level."""

    metropolis_adjust = False
    target_accept: float = 0.9  # of the MH it skips: higher than MALA's, as nothing rejects


@dataclass
class AnnealedMALA(AnnealedLangevin):
    """Annealed Metropolis-adjusted Langevin, per-chain accept/reject, adaptive step per level."""

    target_accept: float = 0.57


@dataclass
class RepeatedReverse(AnnealedULA):
    """The reverse-diffusion step applied K times at each level: ULA with noise / sqrt(2)."""

    noise_scale: float = 2**-0.5


@dataclass
class AnnealedHMC(AnnealedMCMC):
    """Annealed HMC: leapfrog + MH on E(x) + |p|^2/2; ``persistence`` > 0 keeps momentum."""

    leapfrog: int = 3
    persistence: float = 0.0
    step_size: float = 0.1
    target_accept: float = 0.8  # 0.65 left negation at 1.28x the W2 floor, 0.8 at 1.07x (8 seeds)
    step_power = 1.0

    def _check_settings(self) -> None:
        super()._check_settings()
        if self.leapfrog < 1 or not 0 <= self.persistence < 1:
            raise ValueError(f"leapfrog must be >= 1 and persistence in [0, 1), got {self.leapfrog}, "
                             f"{self.persistence}")

    def _kernel(self, target, state, momentum, step, noise):
        return hmc_step(target, state, momentum, step, self.leapfrog, noise, self.persistence)


@dataclass
class AnnealedUHMC(AnnealedHMC):
    """Annealed unadjusted HMC with partial momentum refresh (underdamped Langevin-like)."""

    metropolis_adjust = False
    persistence: float = 0.9
    target_accept: float = 0.9
