"""Any diffusers UNet, with its scheduler's noise levels, as a compgen component.

compgen's noise levels are continuous (t in [0, 1] of a VP schedule); a diffusers model was
trained on a scheduler's discrete timesteps with ``x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k)
eps``, also variance preserving. A VP noise level is fixed by its log-SNR, so each t maps to
the (fractional) timestep whose ``log(abar / (1 - abar))`` is the same; at that timestep the
noised data are distributed exactly as compgen's x_t, and the network's prediction converts to
a score. Outside the scheduler's range the timestep is clamped to its ends, and ``t_min`` is
set where the scheduler's least noisy timestep lies, so samplers stop there.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.component import Component
from compgen.algebra.compose import Conditioned
from compgen.schedule import DEFAULT_SCHEDULE, VPSchedule, as_time


class DiffusersUNet(Component):
    """A score-only component from a diffusers ``UNet2DModel`` or ``UNet2DConditionModel``.

    x is the image stored flat, (B, C * H * W), channel-major. The condition (optional) is
    passed as ``encoder_hidden_states`` (B, L, D) to a ``UNet2DConditionModel`` and as
    ``class_labels`` to a class-conditional ``UNet2DModel``, with a leading dimension of B (one row
    per point) or 1 (one for all); ``null_condition`` and :meth:`given` take it without.

    Args:
        unet: the network (put in eval mode; its weights are not changed).
        scheduler: any diffusers scheduler with ``alphas_cumprod`` (DDPM, DDIM, PNDM, ...); its
            ``prediction_type`` ("epsilon", "v_prediction" or "sample") is honoured.
        null_condition: the input that means "no condition" (e.g. the text encoder's embedding
            of ""), for guidance (:func:`compgen.algebra.guided`); None for unconditional use.
        schedule: compgen's noise schedule that t refers to.
    """

    has_energy = False

    def __init__(self, unet, scheduler, null_condition: Tensor | None = None,
                 schedule: VPSchedule = DEFAULT_SCHEDULE, name: str | None = None):
        config = unet.config
        size = config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        self.unet, self.shape = unet.eval(), (config.in_channels, height, width)
        self.dim, self.schedule, self.name = math.prod(self.shape), schedule, name
        self.null_condition = null_condition
        self.prediction_type = scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"DiffusersUNet: unsupported prediction_type {self.prediction_type!r}")
        abar = torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float64)
        self._log_snr = (abar.log() - torch.log1p(-abar)).numpy()  # decreasing in the timestep
        self.t_min = float(schedule.t_from_log_snr(torch.tensor(self._log_snr[0], dtype=torch.float64)))
        self._conditioned_by = ("encoder_hidden_states" if hasattr(config, "cross_attention_dim")
                                else "class_labels")

    def timestep(self, t: Tensor) -> Tensor:
        """The scheduler's fractional timestep with the same log-SNR as compgen's level t (B,)."""
        log_snr = self.schedule.log_snr(t.double()).cpu().numpy()
        steps = np.arange(len(self._log_snr), dtype=np.float64)
        # np.interp needs increasing x: walk the table from the noisiest timestep down
        k = np.interp(log_snr, self._log_snr[::-1], steps[::-1])
        return torch.from_numpy(k).to(torch.float32)

    def predict_noise(self, x: Tensor, t: float | Tensor, cond: Tensor | None = None) -> Tensor:
        """eps_hat(x_t, t), (B, D), whatever the network predicts."""
        self._check_x(x)
        b = x.shape[0]
        t = as_time(t, b, x)
        kwargs = {}
        if cond is not None:
            cond = torch.as_tensor(cond).to(x.device)
            if cond.dim() == 0 or cond.shape[0] not in (1, b):
                raise ValueError(f"cond must have a leading dimension of 1 or {b} (one row per point), "
                                 f"got shape {tuple(cond.shape)}")
            kwargs[self._conditioned_by] = cond.expand(b, *cond.shape[1:])
        out = self.unet(x.view(b, *self.shape), self.timestep(t).to(x.device), **kwargs).sample
        out = out.reshape(b, -1).to(x.dtype)
        alpha, sigma = self.schedule.alpha(t)[:, None], self.schedule.sigma(t)[:, None]
        if self.prediction_type == "epsilon":
            return out
        if self.prediction_type == "v_prediction":  # v = alpha eps - sigma x0
            return alpha * out + sigma * x
        return (x - alpha * out) / sigma  # the network predicts x0

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Tensor | None = None) -> Tensor:
        with torch.no_grad():
            eps = self.predict_noise(x, t, cond)
        return -eps / self.schedule.sigma(as_time(t, x.shape[0], x))[:, None]

    def energy_and_score(self, x, t=0.0, cond=None):
        return None, self.score(x, t, cond)

    def given(self, condition: Tensor) -> Conditioned:
        """This model with a fixed condition (no batch dimension), as a component: p(x | condition)."""
        return Conditioned(self, torch.as_tensor(condition)[None])

    def __repr__(self) -> str:
        return self.name or f"DiffusersUNet({type(self.unet).__name__}, {self.shape})"
