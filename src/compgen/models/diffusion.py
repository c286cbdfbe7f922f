"""Learned diffusion models as components, in two parameterizations.

- :class:`ScoreDiffusion` predicts the noise, ``eps_hat(x_t, t)``; its score is
  ``-eps_hat / sigma_t``. Score-only: it composes by products and powers but cannot be mixed
  or MH-corrected exactly.
- :class:`EnergyDiffusion` outputs a scalar energy ``E(x_t, t)`` and predicts the noise as
  ``sigma_t * grad_x E`` (Salimans & Ho 2021; Du et al. 2023, "Reduce, Reuse, Recycle"), so
  energies are available for mixtures and Metropolis-Hastings corrections.

Both are trained by denoising score matching, ``|| eps_hat(alpha x_0 + sigma eps, t) - eps ||^2``,
and both take an optional condition: a class label (``num_classes``) or a vector (``cond_dim``).
A reserved null condition gives the unconditional model, trained by condition dropout.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from compgen.algebra.component import Component
from compgen.algebra.compose import Conditioned
from compgen.models.image import ImageUNet, image_side
from compgen.models.registry import Checkpointable
from compgen.models.temporal import TemporalUNet
from compgen.schedule import DEFAULT_SCHEDULE, VPSchedule, as_time


class NoiseEmbedding(nn.Module):
    """Fixed random Fourier features (Tancik et al. 2020) of the log-SNR, scaled to about [-1, 1].

    Log-SNR rather than t, because the low-noise end where thin structure is resolved is a
    tiny interval of t but a wide one of log-SNR.
    """

    def __init__(self, dim: int, scale: float = 2.0):
        super().__init__()
        freqs = torch.randn(dim // 2, generator=torch.Generator().manual_seed(0)) * scale
        self.register_buffer("freqs", freqs)

    def forward(self, log_snr: Tensor) -> Tensor:  # (B,) -> (B, dim)
        arg = 2 * math.pi * (log_snr[:, None] / 10) * self.freqs
        return torch.cat([arg.sin(), arg.cos()], dim=-1)


class DiffusionNetwork(Checkpointable, Component, nn.Module):
    """Shared body: a network over [x, time embedding, condition embedding].

    Args:
        dim: data dimension D.
        hidden: width of the hidden layers (MLP), or of the U-Net's first level.
        layers: number of hidden layers (MLP), or of the U-Net's down-sampling levels.
        backbone: ``"mlp"``; ``"temporal_unet"`` for sequences of ``channels`` features per
            step stored flat, step-major (:class:`~compgen.models.temporal.TemporalUNet`); or
            ``"unet2d"`` for square images of ``channels`` channels stored flat, channel-major
            (:class:`~compgen.models.image.ImageUNet`, diffusers' UNet2DModel).
        channels: features per step or image channels (``"temporal_unet"`` and ``"unet2d"``
            only; D must be a multiple).
        condition_map: how ``"unet2d"`` draws its embedding as input channels, ``"coarse"`` or
            ``"broadcast"`` (:class:`~compgen.models.image.ImageUNet`).
        num_classes: if set, condition on an integer label in [0, num_classes).
        cond_dim: if set, condition on a (B, cond_dim) vector.
        cond_dropout: probability of training with the null condition (conditional models).
        init_seed: seeds the initial weights, so a model is reproducible without global seeding.
        t_min: the lowest noise level samplers should use with this model. Below sigma ~ 0.03
            denoising score matching learns thin structure poorly (an eps error delta is a
            score error delta / sigma), and MCMC there drifts along it; measured in the
            fidelity benchmark, so the default stops above it.
    """

    batches_conditions = True  # cond: (B,) labels or (B, cond_dim) vectors

    def __init__(self, dim: int, hidden: int = 128, layers: int = 3, num_classes: int | None = None,
                 cond_dim: int | None = None, cond_dropout: float = 0.1,
                 schedule: VPSchedule = DEFAULT_SCHEDULE, name: str | None = None, init_seed: int = 0,
                 t_min: float = 5e-3, backbone: str = "mlp", channels: int | None = None,
                 condition_map: str = "coarse"):
        nn.Module.__init__(self)
        if backbone not in ("mlp", "temporal_unet", "unet2d"):
            raise ValueError(f"backbone must be 'mlp', 'temporal_unet' or 'unet2d', got {backbone!r}")
        if (backbone != "mlp") != (channels is not None) or (channels and dim % channels):
            raise ValueError(f"channels must be given exactly for backbone='temporal_unet' or 'unet2d' "
                             f"and divide dim={dim}; got backbone={backbone!r}, channels={channels}")
        if num_classes is not None and cond_dim is not None:
            raise ValueError("give num_classes or cond_dim, not both")
        if condition_map != "coarse" and backbone != "unet2d":
            raise ValueError(f"condition_map={condition_map!r} applies to backbone='unet2d' only")
        self.dim, self.schedule, self.name = dim, schedule, name
        self.num_classes, self.cond_dim, self.cond_dropout = num_classes, cond_dim, cond_dropout
        self.hidden, self.layers, self.init_seed, self.t_min = hidden, layers, init_seed, t_min
        self.backbone, self.channels = backbone, channels
        self.noise_embed = NoiseEmbedding(32)
        if num_classes is not None:  # index num_classes is the null condition
            self.cond_embed = nn.Embedding(num_classes + 1, 32)
        elif cond_dim is not None:
            self.cond_embed = nn.Linear(cond_dim, 32)
        emb_dim = 32 + (32 if self.conditional else 0)
        if backbone == "mlp":
            blocks: list[nn.Module] = []
            for i in range(layers):
                blocks += [nn.Linear(dim + emb_dim if i == 0 else hidden, hidden), nn.SiLU()]
            out = 1 if self.has_energy else dim  # a scalar energy, or a noise vector
            self.net = nn.Sequential(*blocks, nn.Linear(hidden, out))
        elif backbone == "temporal_unet":
            self.net = TemporalUNet(channels, dim // channels, emb_dim, hidden, layers,
                                    scalar=self.has_energy)
        else:
            self.net = ImageUNet(channels, image_side(dim, channels), emb_dim, hidden, layers,
                                 scalar=self.has_energy, condition_map=condition_map)
        with torch.no_grad():  # re-draw every weight from our own generator
            gen = torch.Generator().manual_seed(init_seed)
            for layer in self.modules():
                if isinstance(layer, nn.Linear | nn.Embedding | nn.Conv1d | nn.ConvTranspose1d | nn.Conv2d):
                    bound = 1 / math.sqrt(layer.weight[0].numel())  # PyTorch's default fan-in bound
                    layer.weight.uniform_(-bound, bound, generator=gen)
                    if getattr(layer, "bias", None) is not None:
                        layer.bias.uniform_(-bound, bound, generator=gen)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None or self.cond_dim is not None

    @property
    def null_condition(self) -> Tensor | None:
        """The condition that means "none" (the unconditional model): the reserved label, or
        the zero vector; None for unconditional models."""
        if self.num_classes is not None:
            return torch.tensor(self.num_classes)
        return None if self.cond_dim is None else torch.zeros(self.cond_dim)

    def given(self, condition: Tensor | int) -> Conditioned:
        """This model with a fixed condition, as a component: p(x | condition)."""
        if not self.conditional:
            raise ValueError(f"{self!r} is unconditional; it takes no condition")
        return Conditioned(self, condition)

    def _features(self, x: Tensor, t: float | Tensor, cond: Tensor | int | None) -> Tensor:
        self._check_x(x)
        b = x.shape[0]
        parts = [x, self.noise_embed(self.schedule.log_snr(as_time(t, b, x)))]
        if self.conditional:
            parts.append(self.cond_embed(self._condition(cond, b, x)))
        elif cond is not None:
            raise ValueError(f"{self!r} is unconditional; got a condition")
        return torch.cat(parts, dim=-1)

    def _condition(self, cond: Tensor | int | None, b: int, x: Tensor) -> Tensor:
        if self.num_classes is not None:
            label = torch.full((b,), self.num_classes) if cond is None else torch.as_tensor(cond)
            label = label.expand(b) if label.dim() == 0 else label
            if label.shape != (b,) or label.dtype.is_floating_point:
                raise ValueError(f"cond must be an int label or ({b},) int tensor, got {tuple(label.shape)}")
            if torch.any((label < 0) | (label > self.num_classes)):
                raise ValueError(f"labels must lie in [0, {self.num_classes}) (or the null label)")
            return label.to(x.device)
        vec = torch.zeros(b, self.cond_dim) if cond is None else torch.as_tensor(cond, dtype=x.dtype)
        if vec.shape not in ((self.cond_dim,), (b, self.cond_dim)):
            raise ValueError(f"cond must have shape ({self.cond_dim},) or ({b}, {self.cond_dim}), "
                             f"got {tuple(vec.shape)}")
        return vec.expand(b, -1)

    def predict_noise(self, x: Tensor, t: float | Tensor, cond: Tensor | int | None = None,
                      create_graph: bool = False) -> Tensor:
        """eps_hat(x_t, t), (B, D)."""
        raise NotImplementedError

    def noise_loss_weight(self, t: Tensor) -> Tensor:
        """(B,) weight of each example's squared noise error in training (:func:`compgen.training.dsm_loss`):
        1, plain denoising score matching."""
        return torch.ones_like(t)

    def noise_errors(self, t: Tensor, eps_hat: Tensor, eps: Tensor) -> Tensor:
        """(B,) per-example terms of :meth:`noise_loss`: ``w_t ||eps_hat - eps||^2``."""
        return self.noise_loss_weight(t) * ((eps_hat - eps) ** 2).sum(-1)

    def noise_loss(self, t: Tensor, eps_hat: Tensor, eps: Tensor) -> Tensor:
        """The training loss of predicted noise eps_hat against eps, both (B, D) at levels t (B,):
        ``mean_b w_t ||eps_hat - eps||^2`` with :meth:`noise_loss_weight` w_t."""
        return self.noise_errors(t, eps_hat, eps).mean()

    def __repr__(self) -> str:
        return self.name or f"{type(self).__name__}(dim={self.dim})"


class ScoreDiffusion(DiffusionNetwork):
    """Noise-prediction network; score = -eps_hat / sigma_t. Score-only.

    Args:
        prediction: what the network outputs. ``"eps"``: the noise itself. ``"v"``:
            ``v = alpha_t eps - sigma_t x_0`` (Salimans & Ho 2022), from which
            ``eps_hat = alpha_t v + sigma_t x_t``; at high noise that is ``x_t`` whatever the
            network says, so directions the network cannot see are still denoised. Image
            U-Nets need it: GroupNorm hides each image's mean colour, and an eps network let
            that mean drift to +-5 in reverse diffusion (measured), giving flat-colour images.
        (the rest as :class:`DiffusionNetwork`)
    """

    has_energy = False

    def __init__(self, *args, prediction: str = "eps", **kwargs):
        if prediction not in ("eps", "v"):
            raise ValueError(f"prediction must be 'eps' or 'v', got {prediction!r}")
        super().__init__(*args, **kwargs)
        self.prediction = prediction

    def noise_loss_weight(self, t: Tensor) -> Tensor:
        """A v-model is trained on v: a v error is the noise error / alpha_t, so the weight is
        1 / alpha_t^2. The noise loss weighs the error of the predicted x0 by SNR_t, nearly
        nothing at high noise, where an image's layout is decided (measured: eps-loss image
        models learned colours, not places)."""
        if self.prediction == "eps":
            return super().noise_loss_weight(t)
        return self.schedule.alpha(t) ** -2

    def predict_noise(self, x, t, cond=None, create_graph=False):
        out = self.net(self._features(x, t, cond))
        if self.prediction == "eps":
            return out
        tt = as_time(t, x.shape[0], x)
        return self.schedule.alpha(tt)[:, None] * out + self.schedule.sigma(tt)[:, None] * x

    def score(self, x: Tensor, t: float | Tensor, cond: Tensor | int | None = None) -> Tensor:
        sigma = self.schedule.sigma(as_time(t, x.shape[0], x))[:, None]
        return -self.predict_noise(x, t, cond) / sigma

    def energy_and_score(self, x, t, cond=None):
        return None, self.score(x, t, cond)


class EnergyDiffusion(DiffusionNetwork):
    """Scalar energy network ``E(x, t) = f(x, t) / sigma_t``; eps_hat = sigma_t grad_x E.

    Dividing by sigma_t makes the network output O(1) at every noise level, as eps is.
    """

    has_energy = True

    def energy(self, x: Tensor, t: float | Tensor, cond: Tensor | int | None = None) -> Tensor:
        sigma = self.schedule.sigma(as_time(t, x.shape[0], x))
        return self.net(self._features(x, t, cond)).squeeze(-1) / sigma

    def energy_and_score(self, x, t, cond=None):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            energy = self.energy(x, t, cond)
            (grad,) = torch.autograd.grad(energy.sum(), x)
        return energy.detach(), -grad

    def score(self, x, t, cond=None):
        return self.energy_and_score(x, t, cond)[1]

    def predict_noise(self, x, t, cond=None, create_graph=False):
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            energy = self.energy(x, t, cond)
            (grad,) = torch.autograd.grad(energy.sum(), x, create_graph=create_graph)
        sigma = self.schedule.sigma(as_time(t, x.shape[0], x))[:, None]
        return sigma * grad
