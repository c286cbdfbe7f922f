"""An image body for diffusion models: diffusers' ``UNet2DModel``, fed compgen's noise and
condition embedding, so an image model is an ordinary :class:`~compgen.DiffusionNetwork`
(trained, composed, sampled and checkpointed like every other)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

MAP_CHANNELS = 4


class ImageUNet(nn.Module):
    """U-Net over square images stored flat, (B, C * S * S), channel-major.

    Its input is the diffusion network's feature vector ``[x, embedding]``. The embedding
    (compgen's log-SNR features plus the condition) goes through a small MLP to the U-Net's
    time-embedding width and is added to it through diffusers' ``class_embed_type="identity"``
    route; the U-Net's own timestep input stays 0, so noise levels are continuous, not a
    discrete timestep grid. Every residual block is FiLM-modulated by it (scale and shift).

    Two fixed coordinate channels (row and column in [-1, 1]) join the image: convolutions and
    attention are translation-equivariant, so without them "in the top left" can be told from
    "in the center" only through the zero padding at the borders (measured: a first model
    trained without them ignored its sentences almost entirely).

    The embedding also enters as a picture: a linear map to ``MAP_CHANNELS`` coarse maps of
    (S/4) x (S/4) cells, upsampled and stacked on the input. FiLM scales and shifts whole
    channels, so "where" has to be built from the coordinate channels through several layers;
    the map gives it a direct route. (Added while a model ignored places; the cause turned out
    to be the loss weighting, see :func:`compgen.training.dsm_loss`, so what the map adds on
    its own is not measured.)

    ``condition_map="broadcast"`` draws that picture at full resolution instead: the embedding
    is tiled over the pixels, joined by their coordinates and passed through two convolutions
    (a spatial broadcast decoder, Watters et al. 2019), so a condition can say "this colour,
    this shape, here" pixel by pixel. The discovered components of
    :class:`~compgen.models.decomposed.DecomposedDiffusion` need it: through the coarse map a
    latent-conditioned denoiser ignored its latents for thousands of steps (measured).

    Args:
        channels: C, image channels.
        size: S, image side in pixels; divisible by 2 ** depth.
        emb_dim: size of the noise + condition embedding.
        width: channels of the first level (doubled at each level down).
        depth: number of down-sampling levels; attention at the lowest level only (CPU).
        scalar: output one number per image, the sum of a one-channel map (an energy).
        condition_map: ``"coarse"`` (a linear map to (S/4) x (S/4) cells) or ``"broadcast"``.
    """

    def __init__(self, channels: int, size: int, emb_dim: int, width: int = 16, depth: int = 2,
                 scalar: bool = False, condition_map: str = "coarse"):
        super().__init__()
        if condition_map not in ("coarse", "broadcast"):
            raise ValueError(f"condition_map must be 'coarse' or 'broadcast', got {condition_map!r}")
        from diffusers import UNet2DModel

        if size % 2**depth:
            raise ValueError(f"image size {size} must be divisible by 2 ** depth = {2 ** depth}")
        self.channels, self.size, self.scalar = channels, size, scalar
        levels = depth + 1
        self.unet = UNet2DModel(
            sample_size=size, in_channels=channels + 2 + MAP_CHANNELS, out_channels=1 if scalar else channels,
            block_out_channels=tuple(width * 2**i for i in range(levels)), layers_per_block=1,
            down_block_types=("DownBlock2D",) * depth + ("AttnDownBlock2D",),
            up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * depth,
            norm_num_groups=min(8, width), attention_head_dim=width * 2**depth,
            class_embed_type="identity", resnet_time_scale_shift="scale_shift")
        self.embed = nn.Sequential(nn.Linear(emb_dim, 4 * width), nn.SiLU(),
                                   nn.Linear(4 * width, 4 * width))
        self.condition_map = condition_map
        if condition_map == "coarse":
            self.grid = max(size // 4, 1)
            self.embed_map = nn.Linear(emb_dim, MAP_CHANNELS * self.grid**2)
        else:
            self.embed_map = nn.Linear(emb_dim, 2 * width)
            self.position_map = nn.Conv2d(2, 2 * width, 1)
            w = 2 * width
            self.broadcast = nn.Sequential(nn.SiLU(), nn.Conv2d(w, w, 3, padding=1), nn.SiLU(),
                                           nn.Conv2d(w, MAP_CHANNELS, 3, padding=1))
        self.register_buffer("coordinates", coordinate_grid(size), persistent=False)

    def forward(self, features: Tensor) -> Tensor:
        d = self.channels * self.size**2
        x, emb = features[:, :d], features[:, d:]
        image = x.view(-1, self.channels, self.size, self.size)
        grid = self.coordinates.to(x).expand(len(x), -1, -1, -1)
        if self.condition_map == "coarse":
            where = self.embed_map(emb).view(-1, MAP_CHANNELS, self.grid, self.grid)
            where = nn.functional.interpolate(where, size=self.size, mode="bilinear", align_corners=False)
        else:
            where = self.broadcast(self.embed_map(emb)[:, :, None, None] + self.position_map(grid))
        image = torch.cat([image, grid, where], dim=1)
        zero = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        out = self.unet(image, zero, class_labels=self.embed(emb)).sample
        if self.scalar:
            return out.sum(dim=(1, 2, 3))[:, None]
        return out.reshape(-1, d)


def coordinate_grid(size: int) -> Tensor:
    """(2, S, S): each pixel's row and column in [-1, 1]."""
    r = torch.linspace(-1, 1, size)
    return torch.stack(torch.meshgrid(r, r, indexing="ij"))


def image_side(dim: int, channels: int) -> int:
    """S for a flat image of ``dim`` = channels * S * S values; raises if it is not square."""
    side = math.isqrt(dim // channels) if dim % channels == 0 else 0
    if side * side * channels != dim:
        raise ValueError(f"dim={dim} is not channels * S * S for channels={channels}")
    return side
