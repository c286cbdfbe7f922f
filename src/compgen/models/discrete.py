"""Analytic discrete components: an exact energy table, Ising and Potts models, and an RBM.

Each is a :class:`~compgen.algebra.discrete.DiscreteComponent`: its energy is a differentiable
function of the one-hot encoding, so it composes with ``&``, ``|``, ``~``, ``**`` and feeds
gradient-informed samplers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from compgen.algebra.discrete import DiscreteComponent


class EnergyTable(DiscreteComponent):
    """Any distribution over a space small enough to tabulate: ``E(x) = table[x]``.

    Args:
        energies: K^D energies in the order of :func:`~compgen.algebra.discrete.all_states`
            (the last variable fastest), or a tensor of shape (K,) * D.
        dim, num_categories: D and K (inferred from a (K,) * D tensor).
        name: shown by ``repr``.

    The gradient it reports at a state x is the exact one of the multilinear extension of the
    table, ``dE/d onehot[i, k] = table[x with x_i = k]``: every single-variable change is
    looked up rather than estimated.
    """

    def __init__(self, energies: Tensor, dim: int | None = None, num_categories: int | None = None,
                 name: str = "table"):
        energies = torch.as_tensor(energies, dtype=torch.float32)
        if dim is None or num_categories is None:
            if energies.dim() < 1 or len(set(energies.shape)) != 1:
                raise ValueError("EnergyTable: pass dim and num_categories, or energies of shape "
                                 f"(K,) * D; got shape {tuple(energies.shape)}")
            dim, num_categories = energies.dim(), energies.shape[0]
        if energies.numel() != num_categories**dim:
            raise ValueError(f"EnergyTable: energies must have {num_categories}^{dim} = "
                             f"{num_categories**dim} entries, got {energies.numel()}")
        if (torch.isnan(energies) | (energies == -torch.inf)).any() or not torch.isfinite(energies).any():
            raise ValueError("EnergyTable: energies must be finite or +inf (impossible states), "
                             "not NaN or -inf, and some must be finite")
        self.dim, self.num_categories, self.name = dim, num_categories, name
        self.table = energies.flatten()
        self._strides = num_categories ** torch.arange(dim - 1, -1, -1)  # (D,)

    def _energy(self, onehot: Tensor) -> Tensor:
        x = onehot.detach().argmax(-1)  # (B, D)
        index = (x * self._strides).sum(-1)  # (B,)
        # energies of every single-variable change, (B, D, K): index + (k - x_i) * stride_i
        shift = (torch.arange(self.num_categories) - x[..., None]) * self._strides[:, None]
        changes = index[:, None, None] + shift
        neighbours = self.table[changes]
        # value table[x]; gradient the neighbours (exact at one-hot inputs)
        return self.table[index] + ((onehot - onehot.detach()) * neighbours).sum((-1, -2))

    def __repr__(self) -> str:
        return self.name


def lattice_couplings(side: int, strength: float = 1.0, periodic: bool = True) -> Tensor:
    """Nearest-neighbour couplings of a ``side x side`` square lattice: (side^2, side^2)."""
    idx = torch.arange(side * side).view(side, side)
    J = torch.zeros(side * side, side * side)
    for shift in [(0, 1), (1, 0)]:
        nb = torch.roll(idx, shifts=(-shift[0], -shift[1]), dims=(0, 1))
        a, b = idx.flatten(), nb.flatten()
        if not periodic:
            keep = (idx // side + shift[0] < side).flatten() & (idx % side + shift[1] < side).flatten()
            a, b = a[keep], b[keep]
        J[a, b] = J[b, a] = strength
    return J


def _check_couplings(couplings: Tensor, fields: Tensor, what: str, field_shape: tuple) -> None:
    d = couplings.shape[0]
    if couplings.dim() != 2 or couplings.shape != (d, d):
        raise ValueError(f"{what}: couplings must be a square (D, D) matrix, got {tuple(couplings.shape)}")
    if not torch.allclose(couplings, couplings.T):
        raise ValueError(f"{what}: couplings must be symmetric")
    if couplings.diagonal().abs().max() > 0:
        raise ValueError(f"{what}: couplings must have a zero diagonal (no self-interaction)")
    if tuple(fields.shape) != field_shape:
        raise ValueError(f"{what}: fields must have shape {field_shape}, got {tuple(fields.shape)}")


class Ising(DiscreteComponent):
    """Binary Ising model over spins s = 2x - 1: ``E(x) = -s^T J s / 2 - h^T s``.

    Args:
        couplings: (D, D) symmetric J with zero diagonal (e.g. :func:`lattice_couplings`).
        fields: (D,) h; zeros by default.
    """

    num_categories = 2

    def __init__(self, couplings: Tensor, fields: Tensor | None = None, name: str = "ising"):
        couplings = torch.as_tensor(couplings, dtype=torch.float32)
        d = couplings.shape[0]
        fields = torch.zeros(d) if fields is None else torch.as_tensor(fields, dtype=torch.float32)
        _check_couplings(couplings, fields, "Ising", (d,))
        self.dim, self.couplings, self.fields, self.name = d, couplings, fields, name

    def _energy(self, onehot: Tensor) -> Tensor:
        s = onehot[..., 1] - onehot[..., 0]  # (B, D) spins
        return -0.5 * ((s @ self.couplings) * s).sum(-1) - s @ self.fields

    def __repr__(self) -> str:
        return self.name


class Potts(DiscreteComponent):
    """Potts model over K categories: ``E(x) = -sum_{i<j} J_ij [x_i = x_j] - sum_i h_i[x_i]``.

    Args:
        couplings: (D, D) symmetric J with zero diagonal.
        num_categories: K.
        fields: (D, K) h; zeros by default.
    """

    def __init__(self, couplings: Tensor, num_categories: int, fields: Tensor | None = None,
                 name: str = "potts"):
        couplings = torch.as_tensor(couplings, dtype=torch.float32)
        d = couplings.shape[0]
        fields = (torch.zeros(d, num_categories) if fields is None
                  else torch.as_tensor(fields, dtype=torch.float32))
        _check_couplings(couplings, fields, "Potts", (d, num_categories))
        self.dim, self.num_categories, self.name = d, num_categories, name
        self.couplings, self.fields = couplings, fields

    def _energy(self, onehot: Tensor) -> Tensor:
        agree = torch.einsum("bik,bjk->bij", onehot, onehot)  # (B, D, D): [x_i = x_j]
        return -0.5 * (agree * self.couplings).sum((-1, -2)) - (onehot * self.fields).sum((-1, -2))

    def __repr__(self) -> str:
        return self.name


class RBM(DiscreteComponent):
    """Binary restricted Boltzmann machine, by its free energy over the visible units:
    ``E(v) = -b^T v - sum_j softplus(c_j + W_j v)``.

    Args:
        weights: (H, V) W.
        visible_bias: (V,) b; hidden_bias: (H,) c.
    """

    num_categories = 2

    def __init__(self, weights: Tensor, visible_bias: Tensor, hidden_bias: Tensor, name: str = "rbm"):
        self.W, self.b, self.c = (torch.as_tensor(v, dtype=torch.float32)
                                  for v in (weights, visible_bias, hidden_bias))
        h, v = self.W.shape
        if self.b.shape != (v,) or self.c.shape != (h,):
            raise ValueError(f"RBM: with weights of shape (H={h}, V={v}), visible_bias must be ({v},) "
                             f"and hidden_bias ({h},); got {tuple(self.b.shape)}, {tuple(self.c.shape)}")
        self.dim, self.name = v, name

    @classmethod
    def random(cls, visible: int = 100, hidden: int = 25, weight_std: float = 0.3,
               bias_std: float = 0.5, seed: int = 0) -> RBM:
        """Weights N(0, weight_std^2) and biases N(0, bias_std^2), deterministic in ``seed``."""
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(hidden, visible, generator=g) * weight_std,
                   torch.randn(visible, generator=g) * bias_std,
                   torch.randn(hidden, generator=g) * bias_std, name=f"rbm{visible}x{hidden}")

    def _energy(self, onehot: Tensor) -> Tensor:
        v = onehot[..., 1]
        return -v @ self.b - F.softplus(v @ self.W.T + self.c).sum(-1)

    def block_gibbs(self, n: int, sweeps: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, V) samples by alternating h | v and v | h, which are exact conditionals: the
        reference sampler for benchmarks (it uses the RBM's structure, so it is not a
        composition sampler)."""
        v = torch.bernoulli(torch.full((n, self.dim), 0.5), generator=generator)
        for _ in range(sweeps):
            h = torch.bernoulli(torch.sigmoid(v @ self.W.T + self.c), generator=generator)
            v = torch.bernoulli(torch.sigmoid(h @ self.W + self.b), generator=generator)
        return v.long()

    def __repr__(self) -> str:
        return self.name
