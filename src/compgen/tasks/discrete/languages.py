"""Two constraint languages over the alphabet ``( ) a b``, with exact uniform samplers.

- ``balanced``: the brackets are balanced (letters are free): ``a(b)(()a)``.
- ``motif``: the string contains the motif ``)(`` somewhere.

Their intersection, "balanced and contains ``)(``", is what a product of a model of each
language should sample; :func:`sample_intersection` draws it exactly (a balanced string by
dynamic programming, kept if it has the motif), so samplers can be judged at any length.
"""

from __future__ import annotations

import torch
from torch import Tensor

ALPHABET = "()ab"
OPEN, CLOSE = 0, 1
MOTIF = ")("
LANGUAGES = ("balanced", "motif")


def decode(x: Tensor) -> list[str]:
    """(n, L) token ids -> strings."""
    return ["".join(ALPHABET[int(t)] for t in row) for row in x]


def encode(strings: list[str]) -> Tensor:
    """Strings of one length -> (n, L) token ids."""
    if len({len(s) for s in strings}) > 1:
        raise ValueError("encode: all strings must have the same length")
    return torch.tensor([[ALPHABET.index(c) for c in s] for s in strings], dtype=torch.long)


def is_balanced(x: Tensor) -> Tensor:
    """(n, L) -> (n,) bool: depth never negative and zero at the end."""
    depth = torch.cumsum((x == OPEN).long() - (x == CLOSE).long(), dim=1)
    return (depth.min(1).values >= 0) & (depth[:, -1] == 0)


def has_motif(x: Tensor) -> Tensor:
    """(n, L) -> (n,) bool: contains the motif."""
    motif = encode([MOTIF])[0]
    m = len(motif)
    if x.shape[1] < m:
        return torch.zeros(len(x), dtype=torch.bool)
    windows = x.unfold(1, m, 1)  # (n, L - m + 1, m)
    return (windows == motif).all(-1).any(-1)


def member(language: str, x: Tensor) -> Tensor:
    """(n,) bool membership of (n, L) strings in ``language``."""
    if language == "balanced":
        return is_balanced(x)
    if language == "motif":
        return has_motif(x)
    raise ValueError(f"unknown language {language!r}; choose one of {LANGUAGES}")


def _completions(length: int) -> Tensor:
    """``c[r, d]``: ways to finish a balanced string from depth d with r tokens left; (L+1, L+2)."""
    c = torch.zeros(length + 1, length + 2, dtype=torch.float64)
    c[0, 0] = 1
    for r in range(1, length + 1):
        c[r, :-1] = 2 * c[r - 1, :-1] + c[r - 1, 1:]  # a letter, or "("
        c[r, 1:-1] += c[r - 1, :-2]  # ")" from depth >= 1
    return c


def sample_balanced(n: int, length: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, length) strings uniform over the balanced language: each token drawn with
    probability proportional to the number of balanced completions it leaves."""
    c = _completions(length)
    x = torch.zeros(n, length, dtype=torch.long)
    depth = torch.zeros(n, dtype=torch.long)
    for t in range(length):
        left = c[length - t - 1]
        up, stay = left[depth + 1], left[depth]
        down = torch.where(depth > 0, left[(depth - 1).clamp(min=0)], 0.0)
        weights = torch.stack([up, down, stay, stay], dim=1)  # ( ) a b
        x[:, t] = torch.multinomial(weights, 1, generator=generator)[:, 0]
        depth = depth + (x[:, t] == OPEN).long() - (x[:, t] == CLOSE).long()
    return x


def sample_motif(n: int, length: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, length) strings uniform over the strings containing the motif (by rejection)."""
    if length < len(MOTIF):
        raise ValueError(f"no string of length {length} contains {MOTIF!r}")
    return _rejection(n, lambda m: torch.randint(len(ALPHABET), (m, length), generator=generator),
                      has_motif)


def sample_intersection(n: int, length: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, length) strings uniform over balanced strings containing the motif (by rejection)."""
    if length < 4:
        raise ValueError(f"no balanced string of length {length} contains {MOTIF!r}")
    return _rejection(n, lambda m: sample_balanced(m, length, generator), has_motif)


def sample_language(language: str, n: int, length: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, length) uniform samples of a named language."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {LANGUAGES}")
    return (sample_balanced if language == "balanced" else sample_motif)(n, length, generator)


def _rejection(n: int, propose, accept) -> Tensor:
    kept, have = [], 0
    while have < n:
        x = propose(max(2 * (n - have), 64))
        x = x[accept(x)]
        kept.append(x)
        have += len(x)
    return torch.cat(kept)[:n]
