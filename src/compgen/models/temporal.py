"""A temporal (1D convolution) U-Net body for diffusion models over sequences (Janner et al. 2022,
Diffuser), small enough for a CPU.

A sequence of T steps of C channels is stored flat as (B, T * C), step-major (step t's channels
are x[:, t*C:(t+1)*C]), so that a window of consecutive steps is a contiguous slice, which is
what :class:`~compgen.FactorGraph` products over time windows index.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ResidualBlock(nn.Module):
    """conv -> GroupNorm -> SiLU, FiLM from the embedding, conv; plus a skip connection."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel: int = 5):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2)
        self.norm1, self.norm2 = nn.GroupNorm(8, c_out), nn.GroupNorm(8, c_out)
        self.film = nn.Linear(emb_dim, 2 * c_out)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        out = nn.functional.silu(self.norm1(self.conv1(h))) * (1 + scale) + shift
        out = nn.functional.silu(self.norm2(self.conv2(out)))
        return out + self.skip(h)


class TemporalUNet(nn.Module):
    """U-Net over (B, T * C) sequences with a conditioning embedding of size ``emb_dim``.

    Its input is the diffusion network's feature vector ``[x, embedding]`` (B, T*C + emb_dim),
    so it is a drop-in body for :class:`~compgen.models.diffusion.DiffusionNetwork`.
    Output: (B, T*C) (a noise prediction) or, with ``scalar``, (B, 1): a sum over steps of
    per-step energies, so an energy over a long sequence is a sum of local terms.

    Args:
        channels: C, features per step.
        horizon: T, steps; divisible by 2 ** depth.
        emb_dim: size of the noise + condition embedding.
        width: channels of the first level (doubled at each level down).
        depth: number of down/up-sampling levels.
    """

    def __init__(self, channels: int, horizon: int, emb_dim: int, width: int = 32, depth: int = 2,
                 scalar: bool = False):
        super().__init__()
        if horizon % 2**depth:
            raise ValueError(f"horizon {horizon} must be divisible by 2 ** depth = {2 ** depth}")
        self.channels, self.horizon, self.scalar = channels, horizon, scalar
        widths = [width * 2**i for i in range(depth + 1)]
        self.inp = nn.Conv1d(channels, width, 1)
        pairs = list(zip(widths[:-1], widths[1:], strict=True))  # (upper, lower) level widths
        self.down = nn.ModuleList(ResidualBlock(a, b, emb_dim) for a, b in pairs)
        self.pool = nn.ModuleList(nn.Conv1d(b, b, 3, stride=2, padding=1) for b in widths[1:])
        self.mid = ResidualBlock(widths[-1], widths[-1], emb_dim)
        self.up = nn.ModuleList(ResidualBlock(2 * b, a, emb_dim) for a, b in pairs)
        self.upsample = nn.ModuleList(nn.ConvTranspose1d(b, b, 4, stride=2, padding=1) for b in widths[1:])
        self.out = nn.Conv1d(width, 1 if scalar else channels, 1)

    def forward(self, features: Tensor) -> Tensor:
        d = self.channels * self.horizon
        x, emb = features[:, :d], features[:, d:]
        h = self.inp(x.view(-1, self.horizon, self.channels).transpose(1, 2))  # (B, width, T)
        skips = []
        for block, pool in zip(self.down, self.pool, strict=True):
            h = block(h, emb)
            skips.append(h)
            h = pool(h)
        h = self.mid(h, emb)
        for block, upsample in zip(reversed(self.up), reversed(self.upsample), strict=True):
            h = block(torch.cat([upsample(h), skips.pop()], dim=1), emb)
        out = self.out(h)  # (B, 1 or C, T)
        if self.scalar:
            return out.sum(dim=(1, 2))[:, None]
        return out.transpose(1, 2).reshape(-1, d)
