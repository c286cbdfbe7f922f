"""Discrete components: distributions over categorical vectors x in {0, ..., K-1}^D.

They follow the :class:`~compgen.algebra.component.Component` protocol, so ``&``, ``|``, ``~``
and ``**`` compose them exactly as they compose continuous densities (energies add, mix by
logsumexp, scale). Two differences:

- there are no noise levels: ``t`` is accepted, so the algebra can pass it on, and ignored;
- the "score" is ``-dE/dx_onehot`` of shape (B, D, K): the energy is evaluated on a one-hot
  encoding, and its gradient there is the first-order estimate of every single-variable
  change that Gibbs-with-Gradients proposes from (Grathwohl et al. 2021).

Subclasses implement ``_energy(onehot)`` for a float (B, D, K) tensor, differentiably. Users
pass integer tensors (B, D); float (B, D, K) tensors are taken as one-hot (or relaxed) inputs.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor

from compgen.algebra.component import Component, Condition


def one_hot(x: Tensor, num_categories: int) -> Tensor:
    """(B, D) integer categories -> (B, D, K) float one-hot."""
    return F.one_hot(x.long(), num_categories).float()


def all_states(dim: int, num_categories: int) -> Tensor:
    """Every vector of {0..K-1}^D in lexicographic order (the last variable fastest): (K^D, D)."""
    if num_categories**dim > 2**24:
        raise ValueError(f"{num_categories}^{dim} states are too many to enumerate")
    return torch.tensor(list(itertools.product(range(num_categories), repeat=dim)), dtype=torch.long)


class DiscreteComponent(Component):
    """Base of distributions over {0, ..., K-1}^D: ``p(x) ∝ exp(-E(x))``.

    Attributes:
        dim: number of variables D.
        num_categories: number of categories K (2 for binary).
    """

    exact = True  # no noise levels, so nothing is approximated across them

    def _energy(self, onehot: Tensor) -> Tensor:
        """E for a (B, D, K) one-hot (float) input; returns (B,). Must be differentiable."""
        raise NotImplementedError

    def as_one_hot(self, x: Tensor) -> Tensor:
        """Check x and return its (B, D, K) float one-hot encoding."""
        K = self.num_categories
        if x.dtype.is_floating_point:
            if x.dim() != 3 or x.shape[1:] != (self.dim, K):
                raise ValueError(f"{self!r} expects one-hot x of shape (batch, {self.dim}, {K}), "
                                 f"got {tuple(x.shape)}")
            return x
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{self!r} expects x of shape (batch, {self.dim}), got {tuple(x.shape)}")
        if x.numel() and (x.min() < 0 or x.max() >= K):
            raise ValueError(f"{self!r}: categories must lie in [0, {K - 1}], got values in "
                             f"[{int(x.min())}, {int(x.max())}]")
        return one_hot(x, K)

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        """E(x) for x of shape (B, D) (integers) or (B, D, K) (one-hot); returns (B,)."""
        self._unconditional(cond)
        return self._energy(self.as_one_hot(x))

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor, Tensor]:
        """E(x) (B,) and ``-dE/d onehot`` (B, D, K), by one forward and one backward pass."""
        self._unconditional(cond)
        with torch.enable_grad():
            onehot = self.as_one_hot(x).detach().requires_grad_(True)
            energy = self._energy(onehot)
            (grad,) = torch.autograd.grad(energy.sum(), onehot)
        return energy.detach(), -grad
