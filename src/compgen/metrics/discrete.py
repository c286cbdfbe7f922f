"""Exact references and distances for discrete compositions.

On spaces small enough to enumerate, :func:`exact_distribution` normalizes any composition
exactly, and samplers are judged by total variation against it, next to the TV that exact
samples of the same size attain (:func:`tv_noise_floor`). On larger spaces: MMD with an
exponentiated Hamming kernel, and the effective sample size of chain traces.
"""

from __future__ import annotations

import torch
from torch import Tensor

from compgen.algebra.component import Component
from compgen.algebra.discrete import all_states


def state_index(x: Tensor, num_categories: int) -> Tensor:
    """Index of each (n, D) state in :func:`all_states` order; (n,)."""
    strides = num_categories ** torch.arange(x.shape[1] - 1, -1, -1)
    return (x.long() * strides).sum(-1)


def exact_distribution(component: Component, chunk: int = 65536) -> Tensor:
    """The normalized probabilities of a discrete composition over all K^D states, (K^D,)."""
    if component.num_categories is None:
        raise ValueError(f"exact_distribution needs a discrete component; {component!r} is continuous")
    component.require_energy("exact_distribution")
    states = all_states(component.dim, component.num_categories)
    with torch.no_grad():
        neg_e = torch.cat([-component.energy(c).double() for c in states.split(chunk)])
    if not torch.isfinite(neg_e).any():
        raise ValueError(f"{component!r} gives every state zero probability")
    return torch.softmax(neg_e, 0)


def empirical_distribution(x: Tensor, num_categories: int) -> Tensor:
    """Frequencies of the (n, D) samples over all K^D states, (K^D,)."""
    counts = torch.bincount(state_index(x, num_categories), minlength=num_categories ** x.shape[1])
    return counts.double() / len(x)


def total_variation(x: Tensor, probs: Tensor, num_categories: int) -> float:
    """TV between the empirical distribution of (n, D) samples and exact ``probs`` (K^D,)."""
    return 0.5 * float((empirical_distribution(x, num_categories) - probs).abs().sum())


def tv_noise_floor(probs: Tensor, n: int, repeats: int = 200,
                   generator: torch.Generator | None = None) -> tuple[float, float]:
    """Mean and standard deviation of the TV that ``n`` exact samples attain against ``probs``:
    the sampling error a perfect sampler shows at this sample size."""
    tvs = torch.stack([
        0.5 * (torch.multinomial(probs.float(), n, replacement=True, generator=generator)
               .bincount(minlength=len(probs)).double() / n - probs).abs().sum()
        for _ in range(repeats)])
    return float(tvs.mean()), float(tvs.std())


def hamming_mmd(x: Tensor, y: Tensor, unbiased: bool = True) -> float:
    """Squared MMD between (n, D) and (m, D) categorical samples with the kernel
    ``exp(-hamming(a, b) / D)`` (as in Grathwohl et al. 2021). The unbiased estimate can be
    negative; the biased one (``unbiased=False``, diagonal terms kept) is positive, so its log
    can be plotted, and is compared against its value for exact samples of the same sizes."""
    d = x.shape[1]

    def k(a: Tensor, b: Tensor) -> Tensor:
        hamming = (a[:, None, :] != b[None, :, :]).sum(-1).double()  # (n, m)
        return torch.exp(-hamming / d)

    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    if not unbiased:
        return float(kxx.mean() + kyy.mean() - 2 * k(x, y).mean())
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * k(x, y).mean())


def effective_sample_size(traces: Tensor) -> float:
    """ESS of (chains, steps) scalar traces, summed over chains: ``steps / tau`` per chain with
    the integrated autocorrelation time ``tau = 1 + 2 sum_k rho_k`` from the chain-averaged
    autocorrelation, truncated at the first non-positive pair sum (Geyer 1992)."""
    c, s = traces.shape
    z = traces.double() - traces.double().mean()
    var = (z**2).mean()
    if var == 0:
        return 0.0
    f = torch.fft.rfft(z, n=2 * s, dim=1)
    acov = torch.fft.irfft(f * f.conj(), dim=1)[:, :s].mean(0) / torch.arange(s, 0, -1)
    rho = acov / var
    tau = -1.0
    for k in range(0, s - 1, 2):
        pair = rho[k] + rho[k + 1]
        if pair <= 0:
            break
        tau += 2 * pair
    return float(c * s / max(tau, 1.0))
