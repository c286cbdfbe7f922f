"""The forward noising process shared by every component.

compgen uses one continuous-time variance-preserving (VP) process,
``x_t = alpha(t) * x_0 + sigma(t) * eps`` with ``eps ~ N(0, I)`` and ``t`` in ``[0, 1]``
(Song et al. 2021, "Score-Based Generative Modeling through SDEs", linear beta schedule).
Components are functions of a continuous ``t``, so models trained on different time grids
compose, and each sampler picks its own grid of noise levels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class VPSchedule:
    """Linear-beta VP schedule: ``log alpha(t) = -beta_min t / 2 - (beta_max - beta_min) t^2 / 4``.

    ``alpha(t)^2 + sigma(t)^2 = 1``; at ``t = 1`` every density is (almost exactly) N(0, I).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0

    def __post_init__(self) -> None:
        if not 0 <= self.beta_min < self.beta_max:
            raise ValueError(
                f"VPSchedule needs 0 <= beta_min < beta_max, got {self.beta_min}, {self.beta_max}"
            )

    def integral(self, t: Tensor) -> Tensor:
        """int_0^t beta(s) ds, so that alpha(t)^2 = exp(-integral) and sigma(t)^2 = 1 - alpha(t)^2."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * self.integral(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(-torch.expm1(-self.integral(t)))

    def log_snr(self, t: Tensor) -> Tensor:
        """log(alpha^2 / sigma^2), decreasing in t."""
        integral = self.integral(t)
        return -integral - torch.log(-torch.expm1(-integral))

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        """Inverse of ``log_snr``: solve the quadratic integral(t) = log(1 + exp(-log_snr))."""
        integral = torch.nn.functional.softplus(-log_snr)
        a, b = 0.5 * (self.beta_max - self.beta_min), self.beta_min
        return (-b + torch.sqrt(b * b + 4 * a * integral)) / (2 * a)

    def noised(self, x0: Tensor, generator: torch.Generator | None = None, t_min: float = 1e-3
               ) -> tuple[Tensor, Tensor, Tensor]:
        """A training draw for ``x0`` (B, D): noise levels t (B,) uniform in log-SNR over
        [t_min, 1] (the spacing the samplers' grids use, so low noise gets its share), the
        noise eps (B, D) and ``x_t = alpha_t x0 + sigma_t eps`` (B, D)."""
        hi, lo = self.log_snr(torch.tensor([t_min, 1.0])).tolist()
        t = self.t_from_log_snr(lo + (hi - lo) * torch.rand(x0.shape[0], generator=generator))
        eps = torch.randn(x0.shape, generator=generator)
        return t, eps, self.alpha(t)[:, None] * x0 + self.sigma(t)[:, None] * eps

    def timesteps(self, n: int, t_min: float = 1e-3, t_max: float = 1.0) -> Tensor:
        """``n`` noise levels from ``t_max`` down to ``t_min``, evenly spaced in log-SNR.

        Returns: (n,) float64 tensor, decreasing.
        """
        if n < 1:
            raise ValueError(f"timesteps: n must be >= 1, got {n}")
        if not 0 < t_min < t_max <= 1:
            raise ValueError(f"timesteps: need 0 < t_min < t_max <= 1, got {t_min}, {t_max}")
        ends = self.log_snr(torch.tensor([t_max, t_min], dtype=torch.float64))
        if n == 1:
            return torch.tensor([t_min], dtype=torch.float64)
        return self.t_from_log_snr(torch.linspace(ends[0].item(), ends[1].item(), n,
                                                  dtype=torch.float64))

    def to_dict(self) -> dict:
        return asdict(self)


def as_time(t: float | Tensor, batch: int, like: Tensor) -> Tensor:
    """Broadcast a noise level (float, () or (B,)) to a (B,) tensor with ``like``'s dtype."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        return t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a scalar or have shape ({batch},), got {tuple(t.shape)}")
    return t


DEFAULT_SCHEDULE = VPSchedule()
