"""Data sets of scaled trajectories, and time-budgeted training of the forecasters."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from compgen.tasks.particles.models import MonolithicPredictor, RelationalPotentials, scale
from compgen.tasks.particles.simulate import FRAMES_OBSERVED, FRAMES_PREDICTED, simulate

TEST_SEED = 10_000  # test simulations use seeds no training set does


@dataclass
class Split:
    """Scaled (N, T_obs, P, 4) observed and (N, T_pred, P, 4) future frames, the (N, P, P)
    relations, and the physical (N, T, P, 4) states they came from."""

    observed: Tensor
    future: Tensor
    relations: Tensor
    states: Tensor


def split(kind: str, n: int, seed: int, speed: float | None = None, particles: int = 5
          ) -> tuple[Split, float]:
    """Simulate ``n`` systems and scale them; ``speed`` (the velocity scale) defaults to the
    largest speed component in these systems (pass the training set's for a test set)."""
    sims = simulate(kind, n, particles=particles, seed=seed)
    states = torch.from_numpy(sims.states)
    speed = float(states[..., 2:].abs().max()) if speed is None else speed
    x = scale(states, speed)
    return Split(x[:, :FRAMES_OBSERVED], x[:, FRAMES_OBSERVED:FRAMES_OBSERVED + FRAMES_PREDICTED],
                 torch.from_numpy(sims.relations), states), speed


def fit_forecaster(model: RelationalPotentials | MonolithicPredictor, data: Split, seconds: float,
                   batch_size: int = 64, lr: float = 1e-3, seed: int = 0, progress: bool = True) -> dict:
    """Adam on the model's ``loss`` (scaled units) for ``seconds`` of wall time, learning rate
    cosine-decayed over that time. Returns {"steps", "seconds", "loss"}.

    The batches (and Gumbel noise) are seeded, but how many steps fit in the time depends on
    the machine and its load: equal time is the comparison, not equal steps."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    start, steps, losses = time.perf_counter(), 0, []
    bar = tqdm(total=int(seconds), disable=not progress, desc=f"train {model.name}", unit="s")
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:
            group["lr"] = lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * elapsed / seconds)))
        idx = torch.randint(len(data.observed), (batch_size,), generator=gen)
        loss = model.loss(data.observed[idx], data.future[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
        losses.append(loss.item())
        bar.update(int(time.perf_counter() - start) - bar.n)
        if steps % 50 == 0:
            bar.set_postfix({"loss": f"{sum(losses[-50:]) / 50:.2e}", "steps": steps})
    bar.close()
    model.eval()
    return {"steps": steps, "seconds": round(time.perf_counter() - start, 1),
            "loss": sum(losses[-100:]) / len(losses[-100:])}


def forecast(model: RelationalPotentials | MonolithicPredictor, observed: Tensor, chunk: int = 256) -> Tensor:
    """Forecasts of ``observed`` in chunks (no training graph)."""
    with torch.no_grad():  # the relational forecast's descent turns gradients on for itself
        return torch.cat([model.forecast(observed[i:i + chunk]) for i in range(0, len(observed), chunk)])
