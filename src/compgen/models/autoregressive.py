"""A small autoregressive sequence model as a discrete component.

``p(x) = prod_t p(x_t | x_<t, L - t)``: a GRU over the previous tokens, told how many positions
remain, so one network models every length up to ``max_length`` (a language such as balanced
brackets needs to know when to start closing). Its energy is ``-log p(x)``, exact and
normalized, and differentiable in the one-hot input (embeddings are matrix products), so it
composes like any other component and feeds gradient-informed samplers. It can also propose:
:meth:`resample_span` redraws positions [start, stop) given the prefix, and
:meth:`span_log_prob` is that proposal's density, which is what Metropolis-Hastings with a
model proposal needs.

A product of autoregressive models is not autoregressive: multiplying next-token conditionals
(:func:`compgen.tasks.discrete.models.naive_product_sample`) samples something else.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from compgen.algebra.discrete import DiscreteComponent
from compgen.models.registry import Checkpointable


class NextTokenGRU(nn.Module):
    """The network: embeds the previous token (one-hot, row K is <bos>) and the number of
    positions left, runs a GRU, and outputs next-token logits."""

    def __init__(self, num_categories: int, max_length: int = 32, hidden: int = 64, init_seed: int = 0):
        super().__init__()
        self.num_categories, self.max_length, self.hidden = num_categories, max_length, hidden
        gen = torch.Generator().manual_seed(init_seed)  # our own stream: the global one is untouched
        # token embedding as a matrix, so a one-hot input is differentiable
        self.token_embedding = nn.Parameter(torch.randn(num_categories + 1, hidden, generator=gen) * 0.1)
        # built on the meta device (no draws), then PyTorch's default initializations in its
        # order, drawn from gen
        self.remaining_embedding = nn.Embedding(max_length + 1, hidden, device="meta").to_empty(device="cpu")
        self.gru = nn.GRU(hidden, hidden, batch_first=True, device="meta").to_empty(device="cpu")
        self.head = nn.Linear(hidden, num_categories, device="meta").to_empty(device="cpu")
        nn.init.normal_(self.remaining_embedding.weight, generator=gen)
        for weight in self.gru.parameters():
            nn.init.uniform_(weight, -hidden**-0.5, hidden**-0.5, generator=gen)
        nn.init.kaiming_uniform_(self.head.weight, a=math.sqrt(5), generator=gen)
        nn.init.uniform_(self.head.bias, -hidden**-0.5, hidden**-0.5, generator=gen)

    def forward(self, prev: Tensor, remaining: Tensor, state: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        """prev: (B, T, K+1) one-hot previous tokens; remaining: (T,) positions left.
        Returns (B, T, K) logits and the GRU state."""
        out, state = self.gru(prev @ self.token_embedding + self.remaining_embedding(remaining), state)
        return self.head(out), state


class AutoregressiveModel(Checkpointable, DiscreteComponent, nn.Module):
    """Next-token model over sequences of ``length`` tokens from ``num_categories``.

    Args:
        num_categories: vocabulary size K.
        length: sequence length D of this component; :meth:`with_length` gives the same network
            at another length.
        max_length: the longest sequence the network can be told about.
        hidden: GRU width.
        name: shown by ``repr``.
        init_seed: seeds the initial weights.
        network: an existing :class:`NextTokenGRU` to share (the other sizes are then its own).
    """

    normalized = True  # E = -log p of a chain of normalized conditionals

    def __init__(self, num_categories: int, length: int, max_length: int = 32, hidden: int = 64,
                 name: str = "ar", init_seed: int = 0, network: NextTokenGRU | None = None):
        nn.Module.__init__(self)
        self.network = network or NextTokenGRU(num_categories, max_length, hidden, init_seed)
        if not 1 <= length <= self.network.max_length:
            raise ValueError(f"length must be in [1, max_length={self.network.max_length}], got {length}")
        self.num_categories, self.dim, self.name = self.network.num_categories, length, name
        if network is not None:  # a shared network's sizes are the ones a checkpoint rebuilds
            del self._arguments["network"]
            self._arguments.update(num_categories=network.num_categories, max_length=network.max_length,
                                   hidden=network.hidden)

    def with_length(self, length: int) -> AutoregressiveModel:
        """The same network (shared weights) as a component over sequences of ``length``."""
        return AutoregressiveModel(self.num_categories, length, name=self.name, network=self.network)

    # -- teacher-forced evaluation ----------------------------------------------------------
    def _run(self, prev: Tensor, start: int, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Logits (B, T, K) for positions start..start+T-1 from the previous tokens (B, T, K+1)."""
        return self.network(prev, self.dim - torch.arange(start, start + prev.shape[1]), state)

    def logits(self, onehot: Tensor) -> Tensor:
        """Next-token logits at every position, (B, L, K), for a (B, L, K) one-hot input."""
        b = onehot.shape[0]
        bos = torch.zeros(b, 1, self.num_categories + 1, dtype=onehot.dtype)
        bos[..., -1] = 1
        prev = torch.cat([bos, F.pad(onehot[:, :-1], (0, 1))], dim=1)  # (B, L, K+1)
        return self._run(prev, 0)[0]

    def _energy(self, onehot: Tensor) -> Tensor:
        return -(onehot * F.log_softmax(self.logits(onehot), -1)).sum((-1, -2))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x), (B,), for (B, L) integer sequences."""
        return -self.energy(x)

    def span_log_prob(self, x: Tensor, start: int, stop: int) -> Tensor:
        """``sum_{t in [start, stop)} log p(x_t | x_<t)``: (B,)."""
        onehot = self.as_one_hot(x)
        logp = (onehot * F.log_softmax(self.logits(onehot), -1)).sum(-1)  # (B, L)
        return logp[:, start:stop].sum(-1)

    # -- ancestral sampling -------------------------------------------------------------------
    def step_logits(self, token: Tensor, position: int, state: Tensor | None) -> tuple[Tensor, Tensor]:
        """One step: logits for position ``position`` given the previous token (B,) (K for <bos>)
        and the GRU state; returns (B, K) logits and the new state."""
        logits, state = self._run(F.one_hot(token, self.num_categories + 1).float()[:, None], position, state)
        return logits[:, 0], state

    def prefix_state(self, x: Tensor, start: int) -> tuple[Tensor, Tensor | None]:
        """The previous token and GRU state before position ``start`` of (B, L) sequences x."""
        b = x.shape[0]
        bos = torch.full((b, 1), self.num_categories, dtype=torch.long)
        tokens = torch.cat([bos, x[:, :start]], dim=1)  # (B, start+1)
        if start == 0:
            return tokens[:, 0], None
        _, state = self._run(F.one_hot(tokens[:, :-1], self.num_categories + 1).float(), 0)
        return tokens[:, -1], state

    @torch.no_grad()
    def resample_span(self, x: Tensor, start: int, stop: int,
                      generator: torch.Generator | None = None) -> Tensor:
        """x with positions [start, stop) redrawn from the model given x[:, :start]; (B, L)."""
        y = x.clone()
        token, state = self.prefix_state(x, start)
        for t in range(start, stop):
            logits, state = self.step_logits(token, t, state)
            token = torch.multinomial(F.softmax(logits, -1), 1, generator=generator)[:, 0]
            y[:, t] = token
        return y

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, L) exact samples by ancestral sampling."""
        return self.resample_span(torch.zeros(n, self.dim, dtype=torch.long), 0, self.dim, generator)

    def __repr__(self) -> str:
        return self.name
