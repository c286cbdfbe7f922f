"""The peers of compgen's kernels on an analytic Gaussian-mixture product: the same ULA / MALA /
HMC written by hand in eager PyTorch (the floor of eager overhead: no library between the loop
and the tensor operations), and blackjax's MALA and HMC (jit + vmap + scan, JAX on the CPU).

Both evaluate the same density as compgen at a fixed noise level t, with the same formulas
(per component ``log w_k - 1/2 log det(2 pi var_k) - 1/2 |x - alpha mu_k|^2 / var_k``), and the
level's constants computed once, as anyone writing the loop by hand would.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import torch
from torch import Tensor

from compgen.models.gaussian_mixture import GaussianMixture

Rate = tuple[float, float]  # (chain-steps per second, seconds spent compiling or 0)


def level_constants(factors: list[GaussianMixture], t: float) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per factor at level t: alpha mu (K, D), variances (K, D), log w - log sqrt(det 2 pi var) (K,)."""
    out = []
    for f in factors:
        tt = torch.tensor(t)
        alpha, sigma = f.schedule.alpha(tt), f.schedule.sigma(tt)
        var = alpha**2 * f.stds**2 + sigma**2
        out.append((alpha * f.means, var, f.log_weights - 0.5 * torch.log(2 * math.pi * var).sum(-1)))
    return out


def eager_energy_and_score(constants: list[tuple[Tensor, Tensor, Tensor]]) -> Callable:
    def energy_and_score(x: Tensor) -> tuple[Tensor, Tensor]:
        energy = score = None
        for means, var, log_norm in constants:
            diff = x[:, None, :] - means
            log_c = log_norm - 0.5 * (diff**2 / var).sum(-1)
            e = -torch.logsumexp(log_c, -1)
            s = -(torch.softmax(log_c, -1)[..., None] * diff / var).sum(1)
            energy, score = (e, s) if energy is None else (energy + e, score + s)
        return energy, score
    return energy_and_score


def eager_rate(kernel: str, factors: list[GaussianMixture], t: float, x: Tensor, steps: int,
               step_size: float, leapfrog: int, seed: int) -> Rate:
    """Chain-steps per second of the hand-written eager loop."""
    es, g = eager_energy_and_score(level_constants(factors, t)), torch.Generator().manual_seed(seed)
    e, s = es(x)
    start = time.perf_counter()
    for _ in range(steps):
        normal = torch.randn(x.shape, generator=g)
        if kernel == "hmc":
            p0 = normal
            p, y = p0 + 0.5 * step_size * s, x
            for i in range(leapfrog):
                y = y + step_size * p
                ey, sy = es(y)
                p = p + (step_size if i < leapfrog - 1 else 0.5 * step_size) * sy
            log_alpha = e - ey + 0.5 * (p0**2).sum(-1) - 0.5 * (p**2).sum(-1)
        else:
            mean = x + step_size * s
            y = mean + math.sqrt(2 * step_size) * normal
            ey, sy = es(y)
            if kernel == "ula":
                x, e, s = y, ey, sy
                continue
            back = y + step_size * sy
            log_alpha = (e - ey - ((x - back) ** 2).sum(-1) / (4 * step_size)
                         + ((y - mean) ** 2).sum(-1) / (4 * step_size))
        accept = torch.rand(x.shape[0], generator=g) < log_alpha.clamp(max=0).exp()
        x = torch.where(accept[:, None], y, x)
        e, s = torch.where(accept, ey, e), torch.where(accept[:, None], sy, s)
    return x.shape[0] * steps / (time.perf_counter() - start), 0.0


def blackjax_available() -> str | None:
    """None if blackjax imports, else why not (the suite then skips it, saying so)."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import blackjax  # noqa: F401
        import jax  # noqa: F401
    except ImportError as e:
        return f"blackjax not installed ({e.name}); pip install -e '.[bench]'"
    return None


def blackjax_rate(kernel: str, factors: list[GaussianMixture], t: float, x: Tensor, steps: int,
                  step_size: float, leapfrog: int, seed: int) -> Rate:
    """Chain-steps per second of blackjax's kernel (MALA or HMC), vmapped over the chains and
    scanned over the steps in one jit-compiled function; compilation timed apart."""
    import blackjax
    import jax
    import jax.numpy as jnp

    constants = [tuple(jnp.asarray(v.numpy()) for v in c) for c in level_constants(factors, t)]

    def logdensity(y):
        total = 0.0
        for means, var, log_norm in constants:
            total = total + jax.scipy.special.logsumexp(log_norm - 0.5 * ((y - means) ** 2 / var).sum(-1))
        return total

    algorithm = (blackjax.hmc(logdensity, step_size, jnp.ones(x.shape[1]), leapfrog) if kernel == "hmc"
                 else blackjax.mala(logdensity, step_size))
    chains = x.shape[0]

    @jax.jit
    def run(states, key):
        def body(states, key):
            states, info = jax.vmap(algorithm.step)(jax.random.split(key, chains), states)
            return states, info.acceptance_rate.mean()
        return jax.lax.scan(body, states, jax.random.split(key, steps))

    states = jax.vmap(algorithm.init)(jnp.asarray(x.numpy()))
    start = time.perf_counter()
    jax.block_until_ready(run(states, jax.random.PRNGKey(seed)))
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(run(states, jax.random.PRNGKey(seed + 1)))
    seconds = time.perf_counter() - start
    return chains * steps / seconds, max(compile_seconds - seconds, 0.0)
