"""An image model whose components are discovered: an encoder maps an image to K latents, one
shared conditional denoiser turns each latent into a component, and the image is their product.

After Decomp Diffusion (Su et al. 2024): the predicted noise of an image is the mean of the K
denoiser predictions ``eps(x_t, t | z_k)``, so its score is the sum of K component scores
``-eps(x_t, t | z_k) / (K sigma_t)``: a product of K component densities, each the denoiser
given one latent raised to the power 1/K. What each component stands for is whatever training
finds; no labels or masks are used.

The encoder is slot attention (Locatello et al. 2020): K slots compete for the pixels of a CNN
feature map (a softmax over slots at each pixel), so each latent summarizes a part of the image
rather than all of it. Decomp Diffusion's plain CNN encoder leaves the split to the denoiser.

Training has two stages (:mod:`compgen.tasks.decomposition.models`). First the encoder learns
alone as slot attention's own autoencoder: a small spatial broadcast decoder turns each latent
into a colour and a mask logit per pixel, the masks are a softmax over the K latents, and the
mixture must redraw the image (:meth:`DecomposedDiffusion.autoencoder_loss`). Then the encoder
is frozen and the denoiser learns to draw images from their latents with the denoising loss of
the mean (:meth:`DecomposedDiffusion.denoising_loss`). Measured on CPU budgets: with the
denoising loss alone the latents stayed nearly unused for thousands of steps, and trained
jointly with the mixture the denoiser's gradients made the encoder's split worse (README).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from compgen.algebra.compose import Conditioned, Power, Product
from compgen.models.diffusion import ScoreDiffusion
from compgen.models.image import coordinate_grid
from compgen.models.registry import Checkpointable


class SlotEncoder(nn.Module):
    """Images (B, C, S, S) -> K slot vectors (B, K, width) and their attention (B, K, S * S).

    A three-layer CNN with coordinate channels gives one feature per pixel; slots start from K
    learned vectors (deterministic, so an image always gets the same latents) and are refined
    ``iterations`` times by attention normalized over slots, a GRU and a residual MLP.
    """

    def __init__(self, channels: int, size: int, slots: int, width: int = 32, iterations: int = 3):
        super().__init__()
        self.slots, self.width, self.iterations = slots, width, iterations
        self.cnn = nn.Sequential(nn.Conv2d(channels + 2, width, 5, padding=2), nn.ReLU(),
                                 nn.Conv2d(width, width, 5, padding=2), nn.ReLU(),
                                 nn.Conv2d(width, width, 5, padding=2), nn.ReLU())
        self.register_buffer("coordinates", coordinate_grid(size), persistent=False)
        self.position = nn.Linear(2, width)
        self.features = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(),
                                      nn.Linear(width, width))
        self.initial = nn.Parameter(torch.randn(slots, width) / math.sqrt(width))
        self.norm_inputs, self.norm_slots, self.norm_mlp = (nn.LayerNorm(width) for _ in range(3))
        self.query, self.key, self.value = (nn.Linear(width, width, bias=False) for _ in range(3))
        self.gru = nn.GRUCell(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        b = images.shape[0]
        grid = self.coordinates.expand(b, -1, -1, -1)
        h = self.cnn(torch.cat([images, grid], dim=1)).flatten(2).transpose(1, 2)  # (B, N, W)
        h = self.features(h + self.position(grid.flatten(2).transpose(1, 2)))
        h = self.norm_inputs(h)
        k, v = self.key(h), self.value(h)
        slots = self.initial.expand(b, -1, -1)
        for _ in range(self.iterations):
            q = self.query(self.norm_slots(slots))
            attention = torch.softmax(k @ q.transpose(1, 2) / math.sqrt(self.width), dim=-1)  # (B, N, K)
            weights = attention / (attention.sum(1, keepdim=True) + 1e-8)
            updates = weights.transpose(1, 2) @ v  # (B, K, W)
            slots = self.gru(updates.flatten(0, 1), slots.flatten(0, 1)).view(b, -1, self.width)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attention.transpose(1, 2)


class MaskDecoder(nn.Module):
    """Latents (N, L) -> colours (N, C, S, S) and mask logits (N, S, S): a spatial broadcast
    decoder (the latent tiled over the pixels with their coordinates, then ``layers``
    convolutions, all but the last ``kernel`` x ``kernel``)."""

    def __init__(self, latent_dim: int, channels: int, size: int, width: int = 32, layers: int = 3,
                 kernel: int = 3):
        super().__init__()
        self.channels = channels
        self.register_buffer("coordinates", coordinate_grid(size), persistent=False)
        self.latent, self.position = nn.Linear(latent_dim, width), nn.Conv2d(2, width, 1)
        convolutions = []
        for _ in range(layers - 1):
            convolutions += [nn.ReLU(), nn.Conv2d(width, width, kernel, padding=kernel // 2)]
        self.net = nn.Sequential(*convolutions, nn.ReLU(), nn.Conv2d(width, channels + 1, 3, padding=1))

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        grid = self.coordinates.expand(len(z), -1, -1, -1)
        out = self.net(self.latent(z)[:, :, None, None] + self.position(grid))
        return out[:, : self.channels], out[:, self.channels]


class DecomposedDiffusion(Checkpointable, nn.Module):
    """K discovered components per image: ``components(encode(x))`` composes back to x's model.

    Images are stored flat, (B, C * S * S), channel-major, in [-1, 1] (as the image models'
    :func:`~compgen.tasks.images.models.to_model_space`).

    Args:
        channels, size: C and S of the images.
        components: K, latents per image.
        latent_dim: size of each latent (the denoiser's condition).
        width, depth: the denoiser's U-Net (:class:`~compgen.models.image.ImageUNet`).
        encoder_width: channels of the encoder's CNN and size of its slots.
        cond_dropout: share of training images whose K latents are all replaced by the null
            latent (zeros), so the denoiser also learns the unconditional model guidance needs.
        condition_map: how the denoiser draws a latent as input channels (``"broadcast"``:
            full resolution; ``"coarse"``: the text-to-image models' coarse map).
        decoder_layers, decoder_kernel: the mask decoder's convolutions and their kernel size
            (:class:`MaskDecoder`).
        init_seed: seeds every initial weight.
    """

    def __init__(self, channels: int = 3, size: int = 24, components: int = 4, latent_dim: int = 32,
                 width: int = 16, depth: int = 2, encoder_width: int = 32, cond_dropout: float = 0.1,
                 condition_map: str = "broadcast", decoder_layers: int = 3, decoder_kernel: int = 3,
                 init_seed: int = 0, name: str | None = None):
        nn.Module.__init__(self)
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        if decoder_layers < 1 or decoder_kernel < 1 or decoder_kernel % 2 == 0:
            raise ValueError(f"the mask decoder needs decoder_layers >= 1 and an odd decoder_kernel (the "
                             f"image keeps its size), got {decoder_layers} and {decoder_kernel}")
        self.channels, self.size, self.k, self.latent_dim = channels, size, components, latent_dim
        self.cond_dropout, self.name = cond_dropout, name
        self.denoiser = ScoreDiffusion(channels * size * size, hidden=width, layers=depth, backbone="unet2d",
                                       channels=channels, cond_dim=latent_dim, cond_dropout=0.0,
                                       init_seed=init_seed, prediction="v", condition_map=condition_map,
                                       name=f"{name or 'decomposed'}.denoiser")
        with torch.random.fork_rng():
            torch.manual_seed(init_seed)
            self.encoder = SlotEncoder(channels, size, components, encoder_width)
            self.to_latent = nn.Linear(encoder_width, latent_dim)
            self.decoder = MaskDecoder(latent_dim, channels, size, layers=decoder_layers,
                                       kernel=decoder_kernel)
        self.dim, self.schedule = self.denoiser.dim, self.denoiser.schedule

    def encode(self, x: Tensor) -> Tensor:
        """(B, D) images -> (B, K, latent_dim) latents."""
        return self.to_latent(self.encoder(self._images(x))[0])

    def attention(self, x: Tensor) -> Tensor:
        """(B, D) images -> (B, K, S * S): how the encoder's slots share each pixel (sums to 1 over K)."""
        return self.encoder(self._images(x))[1]

    def mixture(self, latents: Tensor) -> tuple[Tensor, Tensor]:
        """The mask decoder's picture of latents (B, K, L): the mixture (B, D) and the masks
        (B, K, S * S), a softmax over K at each pixel."""
        b, k, _ = latents.shape
        colours, logits = self.decoder(latents.reshape(b * k, -1))
        masks = torch.softmax(logits.view(b, k, -1), dim=1)
        mixed = (colours.view(b, k, self.channels, -1) * masks[:, :, None]).sum(1)
        return mixed.reshape(b, -1), masks

    def segmentation(self, x: Tensor) -> Tensor:
        """(B, D) images -> (B, K, S * S): each latent's share of each pixel (sums to 1 over K),
        the mask decoder's masks."""
        return self.mixture(self.encode(x))[1]

    def autoencoder(self) -> nn.Module:
        """What the first training stage fits: the encoder, its map to latents, the mask decoder."""
        return _Modules(f"{self!r}.autoencoder", [self.encoder, self.to_latent, self.decoder])

    def predict_noise(self, x: Tensor, t: float | Tensor, latents: Tensor) -> Tensor:
        """The image's predicted noise, the mean over its K latents: x (B, D), latents (B, K, L)."""
        b, k = x.shape[0], latents.shape[1]
        t = torch.as_tensor(t, dtype=x.dtype).expand(b)
        eps = self.denoiser.predict_noise(x.repeat_interleave(k, 0), t.repeat_interleave(k),
                                          latents.reshape(b * k, -1))
        return eps.view(b, k, -1).mean(1)

    def components(self, latents: Tensor) -> list[Power]:
        """The K components of images with these latents, (B, K, L) (or (K, L) for one image).

        Component k is the denoiser given latent k, to the power 1/K: their product is the
        image's model. With B rows, a sampler must run B chains (one per image); one image's
        components take any number of chains.
        """
        if latents.dim() == 2:
            latents = latents[None]
        if latents.dim() != 3 or latents.shape[2] != self.latent_dim:
            raise ValueError(f"latents must have shape (B, K, {self.latent_dim}) or (K, {self.latent_dim}), "
                             f"got {tuple(latents.shape)}")
        z = latents.detach()
        one = z.shape[0] == 1
        return [Conditioned(self.denoiser, z[0, j] if one else z[:, j]) ** (1 / self.k)
                for j in range(z.shape[1])]

    def composition(self, latents: Tensor, guidance: float = 1.0) -> Product:
        """The product of :meth:`components` (latents shaped as there): the model of the encoded images.

        With ``guidance`` w, classifier-free guidance over the null latent 0:
        ``p(x | 0) ** (1 - w) * prod_k p(x | z_k) ** (w / K)``; w = 1 is the plain product.
        """
        if not guidance > 0:
            raise ValueError(f"guidance must be > 0 (1: the plain product), got {guidance}")
        components = self.components(latents)
        if guidance == 1.0:
            return Product(components)
        null = Conditioned(self.denoiser, torch.zeros(self.latent_dim)) ** (1 - guidance)
        return Product([Power(c.base, c.exponent * guidance) for c in components] + [null])

    def autoencoder_loss(self, x0: Tensor) -> Tensor:
        """Squared error of the latents' mixture (:meth:`mixture`) to the images (B, D), summed
        over pixels, mean over images: the first training stage."""
        return ((self.mixture(self.encode(x0))[0] - x0) ** 2).sum(-1).mean()

    def denoising_loss(self, x0: Tensor, latents: Tensor, generator: torch.Generator) -> Tensor:
        """The denoising loss of images (B, D) through their latents (B, K, L) (v-weighted, as
        :func:`compgen.training.dsm_loss`), a share ``cond_dropout`` of the images given the null
        latents instead: the second training stage (the latents are data here)."""
        keep = torch.rand(len(x0), generator=generator) >= self.cond_dropout
        latents = latents.detach() * keep[:, None, None]
        t, eps, x_t = self.schedule.noised(x0, generator)
        return self.denoiser.noise_loss(t, self.predict_noise(x_t, t, latents), eps)

    def _images(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{self!r} expects images of shape (batch, {self.dim}), got {tuple(x.shape)}")
        return x.view(-1, self.channels, self.size, self.size)

    def __repr__(self) -> str:
        return self.name or f"DecomposedDiffusion(K={self.k})"


class _Modules(nn.ModuleList):
    """Modules trained together, shown by name (in progress bars)."""

    def __init__(self, name: str, modules: list[nn.Module]):
        super().__init__(modules)
        self.name = name

    def __repr__(self) -> str:
        return self.name
