"""Training loops: denoising score matching for both diffusion parameterizations (Vincent 2011;
Ho et al. 2020), and maximum likelihood for autoregressive sequence models."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from compgen.models.autoregressive import AutoregressiveModel
from compgen.models.diffusion import DiffusionNetwork

# Defaults measured on `compgen bench robustness` (16 random 2D factors, 32 compositions): at 3000
# steps of 256 the learned energies' mode offsets at low noise were off by nats, and annealed MCMC
# followed them (README). A batch of 1024 costs about 1.3x a batch of 256 per step on a CPU.
TRAIN_STEPS, TRAIN_BATCH = 10_000, 1024


def dsm_loss(model: DiffusionNetwork, x0: Tensor, cond: Tensor | None, generator: torch.Generator,
             t_min: float = 1e-3) -> Tensor:
    """``E_{t, eps} w_t || eps_hat(alpha_t x0 + sigma_t eps, t) - eps ||^2``, with the model's
    :meth:`~compgen.DiffusionNetwork.noise_loss_weight` w_t (1, or for v-models the v loss).

    (t, eps) are drawn by :meth:`~compgen.schedule.VPSchedule.noised`.
    """
    b = x0.shape[0]
    t, eps, x_t = model.schedule.noised(x0, generator, t_min)
    if cond is not None and model.cond_dropout > 0:  # null condition teaches the unconditional model
        drop = torch.rand(b, generator=generator) < model.cond_dropout
        cond = torch.where(drop, model.num_classes, cond) if model.num_classes is not None \
            else torch.where(drop[:, None], torch.zeros_like(cond), cond)
    eps_hat = model.predict_noise(x_t, t, cond, create_graph=True)
    return model.noise_loss(t, eps_hat, eps)


def train(model: DiffusionNetwork, data: Tensor, steps: int = TRAIN_STEPS, batch_size: int = TRAIN_BATCH,
          lr: float = 2e-3, ema_decay: float = 0.999, labels: Tensor | None = None, seed: int = 0,
          progress: bool = True,
          callback: Callable[[int, DiffusionNetwork], None] | None = None) -> DiffusionNetwork:
    """Train ``model`` by denoising score matching; returns it with its EMA weights loaded.

    Args:
        data: (N, D) training points.
        labels: (N,) int labels or (N, cond_dim) vectors, for conditional models.
        seed: seeds batch order, noise levels and noise; with the model's ``init_seed`` it
            makes a run reproducible.
        callback: called after every step with the number of steps taken and the EMA model
            (e.g. to evaluate snapshots; the learning rate is still mid-schedule there).
    """
    _check_data(model, data, labels)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"train: batch_size must be a positive integer, got {batch_size!r}")
    gen = torch.Generator().manual_seed(seed)
    data = data.float()

    return fit(model, lambda: _batch_loss(model, data, labels, batch_size, gen), steps, lr, progress, "loss",
               ema_decay, callback)


def _batch_loss(model: DiffusionNetwork, data: Tensor, labels: Tensor | None, batch_size: int,
                gen: torch.Generator) -> Tensor:
    """The denoising loss on a batch drawn from ``data`` (with replacement)."""
    idx = torch.randint(len(data), (min(batch_size, len(data)),), generator=gen)
    return dsm_loss(model, data[idx], None if labels is None else labels[idx], gen)


def train_federated(model: DiffusionNetwork, sites: Sequence[tuple[Tensor, Tensor | None]], rounds: int,
                    local_steps: int, batch_size: int = TRAIN_BATCH, lr: float = 2e-3,
                    ema_decay: float = 0.999, seed: int = 0, progress: bool = True) -> DiffusionNetwork:
    """Federated averaging (McMahan et al. 2017) of denoising score matching over ``sites``.

    Each round every site starts from the shared weights, takes ``local_steps`` Adam steps on its
    own data only, and the shared weights become the sites' average weighted by their data
    sizes; no site's data reaches another. Each site keeps its Adam state across rounds, and the
    learning rate follows one warm-up + cosine schedule over ``rounds * local_steps``. The sites
    run one after another here (a simulation of the protocol, same arithmetic). Returns ``model``
    with an EMA (over rounds) of the shared weights loaded, in eval mode.

    Args:
        sites: per site, (N_k, D) data and its (N_k,) labels or (N_k, cond_dim) conditions (None
            for an unconditional model).
        rounds, local_steps: ``sites * rounds * local_steps`` gradient steps in all.
    """
    for name, value in (("rounds", rounds), ("local_steps", local_steps)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"train_federated: {name} must be a positive integer, got {value!r}")
    if not sites:
        raise ValueError("train_federated: sites is empty; it needs at least one (data, labels) pair")
    for data, labels in sites:
        _check_data(model, data, labels)
    sites = [(data.float(), labels) for data, labels in sites]
    gen = torch.Generator().manual_seed(seed)
    local = [copy.deepcopy(model).train() for _ in sites]
    opts = [torch.optim.Adam(m.parameters(), lr=lr) for m in local]
    scheds = [_warmup_cosine(o, rounds * local_steps) for o in opts]
    share = torch.tensor([float(len(data)) for data, _ in sites])
    share = (share / share.sum()).tolist()
    shared = {k: v.clone() for k, v in model.state_dict().items()}
    ema = {k: v.clone() for k, v in shared.items()}
    bar = tqdm(range(rounds), disable=not progress, desc=f"fedavg {model!r} over {len(sites)} sites")
    for r in bar:
        for m, opt, sched, (data, labels) in zip(local, opts, scheds, sites, strict=True):
            m.load_state_dict(shared)
            for _ in range(local_steps):
                value = _batch_loss(m, data, labels, batch_size, gen)
                opt.zero_grad(set_to_none=True)
                value.backward()
                opt.step()
                sched.step()
        states = [m.state_dict() for m in local]
        shared = {k: sum(w * s[k] for w, s in zip(share, states, strict=True)) for k in shared}
        decay = min(ema_decay ** local_steps, (1 + r) / (10 + r))  # the per-step decay, over a round
        for k in ema:
            ema[k].lerp_(shared[k], 1 - decay)
        bar.set_postfix({"loss": f"{value.item():.3f}"})
    model.load_state_dict(ema)
    return model.eval()


def _check_data(model: DiffusionNetwork, data: Tensor, labels: Tensor | None) -> None:
    """Raise naming the argument unless ``data`` (and ``labels``) fit the model."""
    if not isinstance(data, Tensor):
        raise TypeError(f"train: data must be a torch.Tensor of shape (N, {model.dim}), got "
                        f"{type(data).__name__} (use torch.as_tensor)")
    if data.dim() != 2 or data.shape[1] != model.dim:
        raise ValueError(f"train: data must have shape (N, {model.dim}), got {tuple(data.shape)}")
    if len(data) == 0:
        raise ValueError(f"train: data is empty, shape {tuple(data.shape)}; it needs at least one point")
    if (labels is not None) != model.conditional:
        raise ValueError("train: pass labels exactly when the model is conditional "
                         f"({model!r} is {'' if model.conditional else 'un'}conditional)")
    if labels is not None and len(labels) != len(data):
        raise ValueError(f"train: labels has {len(labels)} rows but data has {len(data)}")
    if not torch.isfinite(data).all():
        raise ValueError("train: data contains non-finite values")


def fit(model: nn.Module, loss: Callable[[], Tensor], steps: int, lr: float, progress: bool = True,
        shown: str = "loss", ema_decay: float | None = None,
        callback: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """The one optimization loop: Adam on ``loss()`` (a fresh batch each call) for ``steps``
    steps under a warm-up + cosine schedule, its value shown in the progress bar as ``shown``.

    With ``ema_decay`` an exponential moving average of the weights is kept (warmed up: early on
    it follows the model), handed to ``callback(steps_taken, ema)`` after every step and loaded
    into the model at the end; without it ``callback`` gets the model itself. Returns the model
    in eval mode.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"train: steps must be a positive integer, got {steps!r}")
    if not lr > 0:
        raise ValueError(f"train: lr must be positive, got {lr!r}")
    ema = None if ema_decay is None else copy.deepcopy(model).requires_grad_(False).eval()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = _warmup_cosine(opt, steps)
    model.train()
    bar = tqdm(range(steps), disable=not progress, desc=f"train {model!r}")
    for step in bar:
        value = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        sched.step()
        if ema is not None:
            decay = min(ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
                    p_ema.lerp_(p, 1 - decay)
        if step % 100 == 0:
            bar.set_postfix({shown: f"{value.item():.3f}"})
        if callback is not None:
            callback(step + 1, model if ema is None else ema)
    if ema is not None:
        model.load_state_dict(ema.state_dict())
    return model.eval()


def _warmup_cosine(opt: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to 1% of lr: the low-noise score needs a fine finish."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * s / steps))))


def train_autoregressive(model: AutoregressiveModel, data: dict[int, Tensor], steps: int = 3000,
                         batch_size: int = 128, lr: float = 3e-3, seed: int = 0,
                         progress: bool = True) -> AutoregressiveModel:
    """Maximum likelihood on sequences of several lengths; returns the model.

    Args:
        data: length -> (N, length) token ids; each step trains on one length, drawn uniformly,
            so the network learns every length it is told about.
        seed: seeds the lengths and batches drawn.
    """
    for length, x in data.items():
        if x.dim() != 2 or x.shape[1] != length or x.dtype != torch.long:
            raise ValueError(f"train_autoregressive: data[{length}] must be a (N, {length}) long tensor, "
                             f"got {tuple(x.shape)} {x.dtype}")
        if x.min() < 0 or x.max() >= model.num_categories:
            raise ValueError(f"train_autoregressive: data[{length}] has tokens outside "
                             f"[0, {model.num_categories - 1}]")
    gen = torch.Generator().manual_seed(seed)
    lengths = sorted(data)
    models = {length: model.with_length(length) for length in lengths}

    def loss() -> Tensor:
        length = lengths[int(torch.randint(len(lengths), (), generator=gen))]
        x = data[length]
        batch = x[torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)]
        return models[length].energy(batch).mean() / length  # nats per token

    return fit(model, loss, steps, lr, progress, "nats_per_token")
